package main

import (
	"bufio"
	"context"
	"log"
	"net"
	"sync/atomic"
	"time"

	"course/chapters/gateway"
	"course/chapters/http1"
	"course/chapters/launch"
)

// serve listens on cfg.Addr and serves one connection at a time until ctx is cancelled.
func serve(ctx context.Context, cfg *launch.Config, app gateway.App) error {
	ln, srv, err := launch.Listen(ctx, cfg)
	if err != nil {
		return err
	}
	log.Printf("blocking server listening on %s", ln.Addr())
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Out of file descriptors, or the like: wait a little rather than spin.
			log.Printf("accept: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		// No goroutine: while this connection is served, the next ones wait in the listen backlog.
		serveConn(ctx, conn, cfg, srv, app)
	}
}

// serveConn serves the requests of one connection, one after the other, until the client closes it, a
// timeout expires or a request forces the close.
func serveConn(ctx context.Context, conn net.Conn, cfg *launch.Config, srv gateway.Server, app gateway.App) {
	defer conn.Close()
	// On shutdown, wake a connection that waits for its next request instead of waiting out its idle time.
	var idle atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		if idle.Load() {
			conn.SetReadDeadline(time.Now())
		}
	})
	defer stop()

	br := bufio.NewReader(conn)
	bw := bufio.NewWriter(conn)
	lim := cfg.Limits()
	wait := cfg.HeaderTimeout // a new connection must start its request as quickly as it must finish its head
	for {
		// Wait for the first byte of the next request: the idle time of a keep-alive connection.
		idle.Store(true)
		conn.SetReadDeadline(time.Now().Add(wait))
		if ctx.Err() != nil {
			return
		}
		if _, err := br.Peek(1); err != nil {
			return // closed by the client, idle too long, or shutting down
		}
		idle.Store(false)
		// From the first byte on, the whole head must arrive before the header deadline: a deadline for
		// the head, not for each read, or a client sending one byte a second would hold us forever.
		conn.SetReadDeadline(time.Now().Add(cfg.HeaderTimeout))
		req, err := http1.ReadRequest(br, lim)
		if err != nil {
			if http1.Refuse(bw, err) {
				http1.Linger(conn)
			}
			return
		}
		// The app reads the body, then the response is written: the write deadline comes after the body's.
		conn.SetReadDeadline(time.Now().Add(cfg.BodyTimeout))
		conn.SetWriteDeadline(time.Now().Add(cfg.BodyTimeout + cfg.WriteTimeout))
		if !http1.Answer(bw, req, srv, app, ctx.Err() != nil) {
			if req.ContentLength != 0 {
				http1.Linger(conn) // the client may still be sending a body that was not read
			}
			return
		}
		wait = cfg.IdleTimeout
	}
}
