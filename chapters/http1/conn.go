package http1

import (
	"bufio"
	"context"
	"io"
	"sync"
	"time"

	"course/chapters/gateway"
)

// Conn is a connection a Server serves: a net.Conn, or anything else with read and write deadlines. The
// package asks for no more, so as not to import package net. Linger also uses a CloseWrite method when
// conn has one, as a *net.TCPConn does.
type Conn interface {
	io.ReadWriteCloser
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// Server serves HTTP/1.x connections, one request after the other on each: the request loop of chapter 1,
// with its deadlines, keep-alive and shutdown. How many connections it serves at once is up to its caller,
// which is what the chapters differ in.
type Server struct {
	Limits        Limits
	HeaderTimeout time.Duration // a client has this long to send a whole request head
	IdleTimeout   time.Duration // a keep-alive connection may wait this long for its next request
	BodyTimeout   time.Duration // reading a request body may take this long
	WriteTimeout  time.Duration // writing a response may take this long, once the body is read

	Gateway gateway.Server
	App     gateway.App

	// Answer answers one request, writing to bw, and reports whether the connection may carry another;
	// closing is set when the server is shutting down. Nil means the package's Answer with App. A chapter
	// that runs apps elsewhere (on a pool of workers, in another process) plugs itself in here.
	Answer func(bw *bufio.Writer, req *gateway.Request, closing bool) bool
}

// ServeConn serves the requests of conn until the client closes it, a timeout expires, a request forces the
// close, or ctx is cancelled; then it closes conn. A connection that waits for its next request when ctx is
// cancelled is closed at once; a request in flight, from its first byte on, is answered first.
func (s *Server) ServeConn(ctx context.Context, conn Conn) {
	defer conn.Close()
	// On shutdown, the wake moves the read deadline of a connection that waits for its next
	// request to now. It runs in a goroutine of its own: one lock keeps its check and move
	// from interleaving with the loop leaving the wait, or it could cut a request that has
	// just begun, moving the deadline after the loop had set the head's.
	var mu sync.Mutex
	waiting := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if waiting {
			conn.SetReadDeadline(time.Now())
		}
	})
	defer stop()
	// setWaiting marks the wait for a request begun or over, with the read deadline that
	// goes with it, in one step for the wake.
	setWaiting := func(w bool, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		waiting = w
		conn.SetReadDeadline(time.Now().Add(d))
	}

	answer := s.Answer
	if answer == nil {
		answer = func(bw *bufio.Writer, req *gateway.Request, closing bool) bool {
			return Answer(bw, req, s.Gateway, s.App, closing)
		}
	}
	br := bufio.NewReader(conn)
	bw := bufio.NewWriter(conn)
	// A new connection must start its request as quickly as it must finish its head.
	wait := s.HeaderTimeout
	for {
		// Wait for the next request's first byte: a keep-alive connection's idle time.
		setWaiting(true, wait)
		if ctx.Err() != nil {
			return // stopping: no new wait (the wake may have run before it began)
		}
		if _, err := br.Peek(1); err != nil {
			return // closed by the client, idle too long, or shutting down
		}
		// From its first byte on, the whole head must come before one deadline: one
		// for each read would let a client sending a byte a second hold us forever.
		setWaiting(false, s.HeaderTimeout)
		req, err := ReadRequest(br, s.Limits)
		if err != nil {
			// The last response's write deadline may have passed while we waited.
			conn.SetWriteDeadline(time.Now().Add(s.WriteTimeout))
			if Refuse(bw, err) {
				Linger(conn)
			}
			return
		}
		// The app reads the body, then the response is written, by a later deadline.
		conn.SetReadDeadline(time.Now().Add(s.BodyTimeout))
		conn.SetWriteDeadline(time.Now().Add(s.BodyTimeout + s.WriteTimeout))
		if !answer(bw, req, ctx.Err() != nil) {
			if req.ContentLength != 0 {
				Linger(conn) // the client may still be sending its body
			}
			return
		}
		wait = s.IdleTimeout
	}
}
