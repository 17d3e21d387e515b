package main

import (
	"bufio"
	"context"
	"errors"
	"log"
	"net"

	"course/chapters/gateway"
	"course/chapters/launch"
)

// serve listens on cfg.Addr and serves one connection at a time until ctx is cancelled.
func serve(ctx context.Context, cfg *launch.Config, app gateway.App) error {
	ln, srv, err := launch.Listen(ctx, cfg)
	if err != nil {
		return err
	}
	log.Printf("blocking server listening on %s", ln.Addr())

	// TODO: the accept loop. Accept a connection, serve it with serveConn, and go back for the next one.
	// When Accept fails because ctx was cancelled (the listener was closed), return nil: that is a clean stop.
	// Other Accept errors (out of file descriptors, ...) should not kill the server: log, pause, go on.
	// (launch.Accept does exactly this around ln.Accept: write it yourself once, then use it.)
	_ = srv
	return errors.New("the accept loop is not written yet: see the TODO in serve (server.go)")
}

// serveConn serves the requests of one connection, one after the other, until the client closes it, a
// timeout expires or a request forces the close.
func serveConn(ctx context.Context, conn net.Conn, cfg *launch.Config, srv gateway.Server, app gateway.App) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	bw := bufio.NewWriter(conn)

	// TODO: the request loop of one connection. For each request:
	//  1. wait for its first byte, for at most cfg.HeaderTimeout on a new connection and cfg.IdleTimeout on a
	//     kept-alive one (conn.SetReadDeadline, then br.Peek(1)); on error, return;
	//  2. read the request with readRequest (request.go) under a deadline for the whole head,
	//     cfg.HeaderTimeout; on error, answer it with http1.Refuse(bw, err), and if that sent an answer call
	//     http1.Linger(conn) so that the answer is not lost to a reset (see "Limits"); then return;
	//  3. set deadlines for the body (cfg.BodyTimeout) and the response (cfg.WriteTimeout), then answer with
	//     http1.Answer(bw, req, srv, app, ctx.Err() != nil); return unless it says the connection may go on.
	_, _, _ = br, bw, cfg.Limits()
}
