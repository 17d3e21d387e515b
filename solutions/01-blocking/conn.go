package main

import (
	"context"
	"net"

	"course/chapters/gateway"
	"course/chapters/launch"
)

// serveConn serves the requests of one connection, one after the other, and closes the connection when it
// returns (steps 8 and 9): http1.Server.ServeConn, the request loop every later chapter uses, in
// chapters/http1/conn.go.
func serveConn(ctx context.Context, conn net.Conn, cfg *launch.Config, srv gateway.Server, app gateway.App) {
	cfg.HTTP1(srv, app).ServeConn(ctx, conn)
}
