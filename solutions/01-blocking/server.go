package main

import (
	"context"
	"log"

	"course/chapters/gateway"
	"course/chapters/launch"
)

// serve listens on cfg.Addr and serves one connection at a time until ctx is cancelled.
func serve(ctx context.Context, cfg *launch.Config, app gateway.App) error {
	ln, gw, err := launch.Listen(ctx, cfg)
	if err != nil {
		return err
	}
	log.Printf("blocking server listening on %s", ln.Addr())
	conns := cfg.HTTP1(gw, app) // the request loop of one connection: chapters/http1/conn.go
	for {
		conn, err := launch.Accept(ctx, ln)
		if err != nil {
			return nil // the server is stopping
		}
		// No goroutine: while this connection is served, the next ones wait in the listen backlog.
		conns.ServeConn(ctx, conn)
	}
}
