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

// read reads what the socket of c holds, and feeds it to the parser.
//
// Step 3 (README: "Step 3: reading"):
//   - read into l.buf, the one buffer that every connection shares, while c is open and wants to read
//     (c.wantsRead, given): a connection whose request is with the pool, or whose output is full, is not read;
//   - EINTR: read again; EAGAIN: the socket is empty for now: return, epoll will say when it is not; another
//     error (a reset): close c; 0 bytes: the client's end of the stream, for eof (given);
//   - the bytes go to feed; but while c is lingering they are counted in c.drained and dropped, and c is
//     closed once more than lingerBytes have come;
//   - a short read, fewer bytes than l.buf holds, has most likely emptied the socket: return rather than make
//     a read that returns EAGAIN; level-triggered epoll reports the socket again if more came.
func (l *loop) read(c *conn, now time.Time) {
	// TODO(step 3)
	notWritten(3, "read (conn.go)")
	l.close(c)
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

// feed pushes data, bytes just read from the socket of c, into its parser, and acts on what it finds. data is
// only valid during the call.
//
// Step 3 (README: "Step 3: reading"):
//   - the first byte of a request (c is idle) starts its head: state head, and the header deadline
//     (-header-timeout, l.cfg.HeaderTimeout) from now on, for the whole head, however slowly it trickles in;
//   - push data into the parser c.p (Feed) until it has used every byte (package push's documentation shows
//     the loop), and act on each event: an error refuses the request (refuse, given); Head: onHead (given),
//     and stop when it says not to go on; Data: body bytes, gathered in c.body (Data is valid only until the
//     next Feed); End: the request is complete;
//   - at the End, the bytes left in data are the next requests (pipelining): keep a copy in c.in, to be fed
//     once this request is answered (next), so that the responses go out in the order of the requests. Then
//     hand the request over (dispatch), and stop.
func (l *loop) feed(c *conn, data []byte, now time.Time) {
	// TODO(step 3)
	notWritten(3, "feed (conn.go)")
	l.close(c)
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

// dispatch hands a complete request of c, head and body, to the pool, or refuses it.
//
// Step 4 (README: "Step 4: offloading the application"):
//   - no deadline runs while the app runs (the pool's -request-timeout bounds it): stop the timer of c;
//   - c is busy: it is not read until its response is sent;
//   - the pool holds at most l.maxInPool requests, its workers and its queue, and l.inPool counts those handed
//     over: beyond, answer 503 at once (tooBusy, given), and do not hand it over;
//   - the app reads the body as its wsgi.input, from what the loop has read (c.body): set the request's Body,
//     then offload it.
func (l *loop) dispatch(c *conn, now time.Time) {
	// TODO(step 4)
	notWritten(4, "dispatch (conn.go)")
	l.close(c)
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

// next ends the request of c, whose response is all written, and starts on the next one.
//
// Step 5 (README: "Step 5: keep-alive"):
//   - the request is over: forget it (c.req, c.body, c.reply, c.answered);
//   - when the response ends the connection (c.keep is false), or the server is stopping (l.stopping), close
//     c; but when the client may still be sending (a refused request, c.drain, or pipelined bytes in c.in),
//     close it gracefully with linger (given), or the kernel may reset the connection before the client has
//     read its response;
//   - else c is idle again and keeps no output buffer (an idle connection holds no buffer): feed it the
//     pipelined bytes waiting in c.in, if there are any; if not, it waits for its next request under the idle
//     deadline, -idle-timeout (l.cfg.IdleTimeout).
func (l *loop) next(c *conn, now time.Time) {
	// TODO(step 5)
	notWritten(5, "next (conn.go)")
	l.close(c)
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

// write writes the output of c, c.out[c.sent:], until it is all written or the socket takes no more.
//
// Step 6 (README: "Step 6: writing"):
//   - EINTR: write again; EAGAIN: the socket's send buffer is full: stop writing (watch then asks epoll for
//     EPOLLOUT); another error (EPIPE, ECONNRESET: the client is gone): close c and return;
//   - tell the worker making the response how much is still unsent, c.reply.sent(c.unsent()), when c has a
//     reply: the worker waits while the loop holds maxOut bytes of it (backpressure);
//   - bytes left: a busy connection's client must keep taking its response: set the write deadline,
//     -write-timeout (l.cfg.WriteTimeout), from now, when this call wrote something or no deadline runs;
//   - all written: empty c.out, keeping its memory for the next bytes; on a busy connection, stop the timer,
//     and if the response is complete (c.answered), the request is over: next.
func (l *loop) write(c *conn, now time.Time) {
	// TODO(step 6)
	notWritten(6, "write (conn.go)")
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
