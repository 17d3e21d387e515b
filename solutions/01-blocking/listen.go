package main

import (
	"context"
	"net"

	"course/chapters/gateway"
	"course/chapters/launch"
)

// listen opens the listening socket on cfg.Addr, and describes the server to the application: launch.Listen,
// which every later chapter uses, and the answer to the WSGI question.
func listen(ctx context.Context, cfg *launch.Config) (net.Listener, gateway.Server, error) {
	ln, gw, err := launch.Listen(ctx, cfg)
	// One goroutine runs one request at a time, in one process: the app is never called
	// twice at once, and whatever it keeps in memory is seen by every request.
	gw.MultiThread, gw.MultiProcess = false, false
	return ln, gw, err
}

// acceptLoop accepts the connections that arrive on ln and calls handle with each, one after the other.
// launch.Accept retries the errors that must not stop a server.
func acceptLoop(ctx context.Context, ln net.Listener, handle func(net.Conn)) error {
	for {
		conn, err := launch.Accept(ctx, ln)
		if err != nil {
			if ctx.Err() != nil {
				return nil // the server is stopping
			}
			return err
		}
		// No goroutine: while this connection is served, the next wait in the backlog.
		handle(conn)
	}
}
