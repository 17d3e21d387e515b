// Command blocking is the server of chapter 1: it serves one connection at a time, from accept to close.
//
// How the pieces fit, with the step of the chapter's README that writes each:
//
//	serve             this file: listen, then accept connections and serve each in turn
//	  listen          step 1, listen.go: the listening socket
//	  acceptLoop      step 2, listen.go: one connection after the other
//	  serveConn       steps 8 and 9, conn.go: the requests of one connection
//	    readRequest   request.go: steps 3 to 7 put together
//	    http1.Answer  given: builds the environ, calls the app, writes the response
package main

import (
	"context"
	"flag"
	"log"
	"net"

	"course/chapters/gateway"
	"course/chapters/launch"
)

func main() {
	launch.Main(launch.Register(flag.CommandLine), serve)
}

// serve listens on cfg.Addr and serves one connection at a time until ctx is cancelled.
func serve(ctx context.Context, cfg *launch.Config, app gateway.App) error {
	ln, gw, err := listen(ctx, cfg)
	if err != nil {
		return err
	}
	log.Printf("blocking server listening on %s", ln.Addr())
	return acceptLoop(ctx, ln, func(conn net.Conn) { serveConn(ctx, conn, cfg, gw, app) })
}
