package main

import (
	"bytes"
	"errors"
	"log"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"course/chapters/gateway"
	"course/chapters/http1"
	"course/chapters/push"
)

// A connection goes through these states, one request after the other. In a blocking server the
// state is where the connection's thread is in its code; here nobody waits in the code, so the
// state is written down.
//
//	idle ─first byte─▶ head ─head parsed─▶ body ─body read─▶ busy ─response sent─▶ idle
//	                                                              └─ or, closing ─▶ lingering
//
// Any of them may end in a close: a deadline passes, the client goes away, or a request is
// refused.
type connState uint8

const (
	idle      connState = iota // waiting for the first byte of a request: a new or kept-alive connection
	head                       // reading a request head, under the header deadline
	body                       // reading a request body, under the body deadline
	busy                       // the request is with the pool, or its response is being written
	lingering                  // the response is sent and the sending side shut: reading what still comes, then close
)

// conn is the state of one connection. It belongs to the loop; only its reply is shared with a worker.
// While idle it holds no buffer: its size is about that of this struct and its parser.
type conn struct {
	fd     int
	state  connState
	events uint32 // what epoll watches on fd
	closed bool   // marked for closing at the end of the turn

	p     *push.Parser
	in    []byte           // bytes read beyond the current request (pipelined requests), kept until it is answered
	req   *gateway.Request // the current request
	body  []byte           // its body, as it arrives
	reply *reply           // its response in the making, while a worker runs the app

	out      []byte // the response bytes to write
	sent     int    // how many of them were written
	answered bool   // the whole response is in out: once out is written, the request is over
	keep     bool   // the connection may then carry another request
	drain    bool   // a request was refused: read what the client still sends before closing (see linger)
	drained  int    // bytes read and dropped while lingering

	timer timer
}

func newConn(fd int, lim http1.Limits) *conn {
	c := &conn{fd: fd, p: push.NewParser(lim)}
	c.timer = timer{index: -1, c: c}
	return c
}

// unsent returns how many bytes of output wait for the socket to take them.
func (c *conn) unsent() int { return len(c.out) - c.sent }

// wantsRead reports whether the loop reads c now. It does not while a request is with the pool (the next,
// pipelined, requests wait in the kernel's buffer until this one is answered), nor while c has more than
// maxOut bytes to write: a client that does not read its responses cannot make the server buffer without end.
func (c *conn) wantsRead() bool {
	return c.state != busy && c.unsent() < maxOut
}

// read reads what c has for us and feeds it to the parser.
func (l *loop) read(c *conn, now time.Time) {
	for !c.closed && c.wantsRead() {
		n, err := unix.Read(c.fd, l.buf)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return // nothing more for now: epoll will tell
		case err != nil:
			l.close(c) // a reset
			return
		case n == 0:
			l.eof(c, now)
			return
		}
		if c.state == lingering {
			c.drained += n
			if c.drained > lingerBytes {
				l.close(c)
			}
		} else {
			l.feed(c, l.buf[:n], now)
		}
		if n < len(l.buf) {
			// A short read has most likely emptied the socket: rather than a read that returns EAGAIN, let
			// level-triggered epoll say if more came.
			return
		}
	}
}

// eof handles the client's end of the stream: it closed the connection, or shut down its sending side.
func (l *loop) eof(c *conn, now time.Time) {
	if c.state == head || c.state == body {
		if err := c.p.EOF(); err != nil {
			l.refuse(c, err, now) // a request cut short: 400, as the blocking server answers
			return
		}
	}
	l.close(c)
}

// feed pushes data into c's parser and acts on what it finds. data is only valid during the call.
func (l *loop) feed(c *conn, data []byte, now time.Time) {
	if c.state == idle {
		// The first byte of a request: from now on, the whole head must come before the header deadline,
		// however slowly it trickles in (a deadline per read would let a slowloris client hold on forever).
		c.state = head
		l.timers.set(&c.timer, now.Add(l.cfg.HeaderTimeout))
	}
	for {
		n, ev, err := c.p.Feed(data)
		data = data[n:]
		if err != nil {
			l.refuse(c, err, now)
			return
		}
		switch ev {
		case push.NeedMore:
			return
		case push.Head:
			if !l.onHead(c, now) {
				return
			}
		case push.Data:
			c.body = append(c.body, c.p.Data()...)
		case push.End:
			// Bytes after the request are the next requests: keep them, and parse them once
			// this one is answered, so that responses go out in the order of the requests.
			c.in = append(c.in, data...)
			l.dispatch(c, now)
			return
		}
	}
}

// onHead handles a request head, and reports whether to go on reading the request.
func (l *loop) onHead(c *conn, now time.Time) bool {
	req := c.p.Request()
	c.req = req
	c.state = body
	if req.ContentLength != 0 {
		l.timers.set(&c.timer, now.Add(l.cfg.BodyTimeout))
	}
	if req.ContentLength > 0 {
		c.body = make([]byte, 0, req.ContentLength) // the parser has checked it against the body limit
	}
	if v := req.Get("Expect"); v != "" && req.Minor >= 1 { // RFC 9110 section 10.1.1: ignored from HTTP/1.0
		if !req.HasToken("Expect", "100-continue") {
			l.answer(c, 417, "unsupported expectation "+strconv.Quote(v), now)
			return false
		}
		// The client waits for this before it sends the body (curl does for large bodies), so send it now.
		if req.ContentLength != 0 {
			c.out = append(c.out, "HTTP/1.1 100 Continue\r\n\r\n"...)
			l.write(c, now)
		}
	}
	return !c.closed
}

// dispatch hands a complete request, head and body, to the pool, or refuses it.
//
// The loop reads the whole body before the app runs: the app reads wsgi.input as a blocking stream, and a
// worker must not wait on a slow client (that is what the loop is for). The body limit bounds the memory
// this takes, as nginx bounds what it buffers for a back end.
func (l *loop) dispatch(c *conn, now time.Time) {
	l.timers.stop(&c.timer) // no deadline while the app runs; the write deadline starts if the client stops reading
	c.state = busy
	if l.inPool >= l.maxInPool {
		// Every worker is busy and the queue is full: say so at once, rather than queue without bound.
		l.tooBusy(c, now)
		return
	}
	c.req.Body = bytes.NewReader(c.body)
	l.offload(c, c.req)
}

// refuse answers a request that cannot be served (err says why and carries the status), then closes.
func (l *loop) refuse(c *conn, err error, now time.Time) {
	log.Printf("refused a request: %v", err)
	msg := err.Error()
	var he *http1.Error
	if errors.As(err, &he) {
		msg = he.Reason
	}
	l.answer(c, gateway.StatusOf(err), msg, now)
}

// answer writes the loop's own short response with status code, then closes the connection.
func (l *loop) answer(c *conn, code int, msg string, now time.Time) {
	l.timers.stop(&c.timer)
	c.state, c.answered, c.keep, c.drain = busy, true, false, true
	var b bytes.Buffer
	gateway.WriteError(&b, code, msg, true)
	c.out = append(c.out, b.Bytes()...)
	l.write(c, now)
}

// tooBusy answers 503 to a request the pool could not take. The body was read: the connection may go on.
func (l *loop) tooBusy(c *conn, now time.Time) {
	c.state, c.answered, c.keep = busy, true, !l.stopping && c.req.WantsKeepAlive()
	var b bytes.Buffer
	gateway.WriteError(&b, 503, "the server is busy, try again", !c.keep, gateway.Header{Name: "Retry-After", Value: "1"})
	c.out = append(c.out, b.Bytes()...)
	l.write(c, now)
}

// next ends a request whose response is all written, and starts on the next one: at once if it has been
// pipelined, else when the client sends it.
func (l *loop) next(c *conn, now time.Time) {
	c.req, c.body, c.reply, c.answered = nil, nil, nil, false
	if !c.keep || l.stopping {
		if c.drain || len(c.in) > 0 {
			l.linger(c, now)
		} else {
			l.close(c)
		}
		return
	}
	c.out, c.sent = nil, 0 // an idle connection keeps no buffer
	c.state = idle
	if len(c.in) > 0 {
		in := c.in
		c.in = nil
		l.feed(c, in, now)
		return
	}
	l.timers.set(&c.timer, now.Add(l.cfg.IdleTimeout))
}

// linger closes c gracefully while the client may still be sending, as after a 413: closing a socket with
// unread bytes makes the kernel send a reset, and a reset can destroy the response before the client reads
// it. So the loop shuts down its sending side (the client sees the end of the response), then reads and drops
// what still comes, until the client closes, lingerBytes or lingerTime, as nginx's lingering_close does.
func (l *loop) linger(c *conn, now time.Time) {
	if err := unix.Shutdown(c.fd, unix.SHUT_WR); err != nil {
		l.close(c)
		return
	}
	c.state = lingering
	c.in, c.out, c.sent = nil, nil, 0
	l.timers.set(&c.timer, now.Add(lingerTime))
}

// write writes c's output until the socket takes no more.
func (l *loop) write(c *conn, now time.Time) {
	progress := false
	for c.unsent() > 0 {
		n, err := unix.Write(c.fd, c.out[c.sent:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			break // send buffer full: epoll says when there is room (EPOLLOUT, see watch)
		}
		if err != nil {
			l.close(c) // EPIPE, ECONNRESET: the client is gone
			return
		}
		c.sent += n
		progress = true
	}
	if c.reply != nil {
		c.reply.sent(c.unsent()) // wakes the worker if it waits for room
	}
	if c.unsent() > 0 {
		// The write deadline: a client must keep taking its response. It runs from the last write that made
		// progress, as nginx's send_timeout does.
		if c.state == busy && (progress || c.timer.index < 0) {
			l.timers.set(&c.timer, now.Add(l.cfg.WriteTimeout))
		}
		return
	}
	c.out, c.sent = c.out[:0], 0
	if c.state == busy {
		l.timers.stop(&c.timer)
		if c.answered {
			l.next(c, now)
		}
	}
}

// close marks c for closing at the end of the turn (see reap), and tells its worker, if it has one.
func (l *loop) close(c *conn) {
	if c.closed {
		return
	}
	c.closed = true
	l.timers.stop(&c.timer)
	if c.reply != nil {
		c.reply.abandon()
	}
	l.closing = append(l.closing, c)
}
