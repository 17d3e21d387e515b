package main

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Step 3: reading. README: "Step 3: reading". Each test serves one socketpair with read, which the test calls
// when the client has sent something, as onEvent will when epoll reports it.

// readNow calls l.read(c, now), failing the test if it does not return within 2 s.
func readNow(t *testing.T, l *loop, c *conn, now time.Time) bool {
	t.Helper()
	return within(t, 2*time.Second, "read", func() { l.read(c, now) })
}

// pending returns how many bytes wait in the socket of c, unread.
func pending(t *testing.T, c *conn) int {
	n, err := unix.IoctlGetInt(c.fd, unix.SIOCINQ)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// readUntil calls read whenever the client may have sent more, until done reports true, at most 5 s.
func readUntil(t *testing.T, l *loop, c *conn, what string, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !done(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		if !readNow(t, l, c, t0) {
			return
		}
	}
}

func TestStep3Read(t *testing.T) {
	const chunked = "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5;ext=1\r\nHello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
	requests := []struct {
		rule         string
		send         []string // each sent, then read
		target, body string   // the request read, and its body
		in           string   // the bytes kept for after it
	}{
		{"a request in one read: its head, then its end", []string{get("/hello")}, "/hello", "", ""},
		{"a body framed by Content-Length is gathered in c.body", []string{post("/echo", "hello")}, "/echo", "hello", ""},
		{"a chunked body is gathered in c.body, decoded", []string{chunked}, "/echo", "Hello, world", ""},
		{"a request in pieces: the parser keeps its place between reads", []string{"GE", "T /hel", "lo HTTP/1.1\r\nHo", "st: test\r\n", "\r", "\n"}, "/hello", "", ""},
		{"a body in pieces", []string{"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n01234", "567", "89"}, "/echo", "0123456789", ""},
		{"bytes after a request are the next requests (pipelining): kept in c.in, not parsed yet", []string{get("/hello") + get("/counter") + "GET /"}, "/hello", "", get("/counter") + "GET /"},
		{"bytes after a body are kept in c.in too", []string{post("/echo", "hi") + get("/hello")}, "/echo", "hi", get("/hello")},
	}
	for _, tt := range requests {
		t.Run(tt.rule, func(t *testing.T) {
			l := newTestLoop(t, setup{})
			c, p := pair(t, l, t0)
			for _, s := range tt.send {
				p.send(s)
				if !readNow(t, l, c, t0) {
					return
				}
			}
			switch {
			case c.req == nil:
				t.Fatalf("after %s, c.req is nil: onHead (given) sets it when the parser reports the Head; said so far: %s", show(strings.Join(tt.send, "")), show(said(c, p)))
			case c.req.Target != tt.target:
				t.Errorf("c.req is a request for %q; want %q", c.req.Target, tt.target)
			}
			if string(c.body) != tt.body {
				t.Errorf("c.body is %s; want %s: append the bytes of each Data event (c.p.Data)", show(string(c.body)), show(tt.body))
			}
			if string(c.in) != tt.in {
				t.Errorf("c.in is %s; want %s: at the End, keep the bytes the parser did not use, for the next requests", show(string(c.in)), show(tt.in))
			}
		})
	}

	tests := []struct {
		rule  string
		check func(t *testing.T, l *loop, c *conn, p *peer)
	}{
		{"the first byte of a request starts the header deadline, for the whole head: later bytes do not move it", func(t *testing.T, l *loop, c *conn, p *peer) {
			p.send("G")
			if !readNow(t, l, c, t0) {
				return
			}
			if c.state != head {
				t.Errorf("after the first byte of a request, c.state is %s; want head", stateName(c.state))
			}
			want := t0.Add(l.cfg.HeaderTimeout)
			if c.timer.index < 0 || !c.timer.when.Equal(want) {
				t.Fatalf("after the first byte, read at t0, the timer is %s; want set to t0 + l.cfg.HeaderTimeout (%v)", timerState(c), want)
			}
			p.send("ET / HTTP/1.1\r\n")
			if !readNow(t, l, c, t0.Add(time.Second)) {
				return
			}
			if c.timer.index < 0 || !c.timer.when.Equal(want) {
				t.Errorf("more bytes of the head, read a second later, moved the timer to %s; want it left at %v: a deadline renewed at each read never ends a head that trickles in (slowloris)", timerState(c), want)
			}
		}},
		{"the bytes kept in c.in are a copy: the next read, of any connection, reuses l.buf", func(t *testing.T, l *loop, c *conn, p *peer) {
			p.send(get("/hello") + get("/counter"))
			if !readNow(t, l, c, t0) {
				return
			}
			other, q := pair(t, l, t0)
			q.send(strings.Repeat("X", len(get("/hello")+get("/counter"))))
			if !readNow(t, l, other, t0) {
				return
			}
			if string(c.in) != get("/counter") {
				t.Errorf("after another connection was read, c.in is %s; want %s: keep a copy of the bytes (append), not a slice of l.buf, which every read overwrites", show(string(c.in)), show(get("/counter")))
			}
		}},
		{"a malformed request is refused: 400, and the connection is not kept", func(t *testing.T, l *loop, c *conn, p *peer) {
			p.send("GET /hello HTTP/1.1\r\nHost : test\r\n\r\n")
			if !readNow(t, l, c, t0) {
				return
			}
			if r := firstResponse(t, said(c, p)); r.status != 400 {
				t.Errorf("a space before the colon of a field got %d; want 400, from refuse (given)", r.status)
			}
		}},
		{"a body over -max-body is refused: 413", func(t *testing.T, l *loop, c *conn, p *peer) {
			p.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 2000000\r\n\r\n")
			if !readNow(t, l, c, t0) {
				return
			}
			if r := firstResponse(t, said(c, p)); r.status != 413 {
				t.Errorf("a Content-Length over -max-body got %d; want 413", r.status)
			}
		}},
		{"the client's end of the stream, between requests: the connection is closed", func(t *testing.T, l *loop, c *conn, p *peer) {
			p.shutdownWrite()
			if readNow(t, l, c, t0) && !c.closed {
				t.Error("read 0 bytes, the end of the client's stream, and c is still open: that is eof's (given)")
			}
		}},
		{"the client's end of the stream in the middle of a request: 400", func(t *testing.T, l *loop, c *conn, p *peer) {
			p.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nabc")
			p.shutdownWrite()
			readUntil(t, l, c, "the end of the stream", func() bool { return c.closed || len(said(c, p)) > 0 })
			if r := firstResponse(t, said(c, p)); r.status != 400 {
				t.Errorf("a body cut short by the client's close got %d; want 400 (eof, given, says so)", r.status)
			}
		}},
		{"an empty socket (EAGAIN) ends read, and keeps the connection", func(t *testing.T, l *loop, c *conn, p *peer) {
			if readNow(t, l, c, t0) && (c.closed || c.state != idle) {
				t.Errorf("read with nothing to read left c closed (%v), in state %s; want it open and idle: EAGAIN only says to wait for epoll", c.closed, stateName(c.state))
			}
		}},
		{"a connection that does not want to read (its request is with the pool) is not read: the bytes wait in the kernel", func(t *testing.T, l *loop, c *conn, p *peer) {
			c.state = busy // as dispatch (step 4) leaves it
			p.send(get("/hello"))
			if !readNow(t, l, c, t0) {
				return
			}
			if n := pending(t, c); n != len(get("/hello")) || c.req != nil {
				t.Errorf("a busy connection was read: %d of %d bytes left in the socket; read only while c.wantsRead()", n, len(get("/hello")))
			}
		}},
		{"a lingering connection's bytes are counted and dropped, not parsed", func(t *testing.T, l *loop, c *conn, p *peer) {
			l.linger(c, t0)
			p.send(get("/hello"))
			if !readNow(t, l, c, t0) {
				return
			}
			if c.req != nil || c.drained != len(get("/hello")) || c.closed {
				t.Errorf("lingering, a request of %d bytes gave c.req %v, c.drained %d, closed %v; want nil, %d, false: the response is sent, what comes now is dropped", len(get("/hello")), c.req != nil, c.drained, c.closed, len(get("/hello")))
			}
		}},
		{"a lingering connection is closed once more than lingerBytes come", func(t *testing.T, l *loop, c *conn, p *peer) {
			l.linger(c, t0)
			chunk := strings.Repeat("x", 64<<10)
			done := make(chan struct{})
			defer close(done)
			go func() { // sends until the connection is closed, or the test ends
				for {
					select {
					case <-done:
						return
					default:
					}
					p.f.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
					if _, err := p.f.WriteString(chunk); err != nil && !strings.Contains(err.Error(), "timeout") {
						return
					}
				}
			}()
			readUntil(t, l, c, "closing after lingerBytes", func() bool { return c.closed })
			if c.drained <= lingerBytes {
				t.Errorf("closed after %d bytes; want more than lingerBytes (%d)", c.drained, lingerBytes)
			}
		}},
		{"a body larger than the read buffer, in many reads", func(t *testing.T, l *loop, c *conn, p *peer) {
			body := strings.Repeat("0123456789", 30000)
			go p.f.WriteString(post("/echo", body))
			readUntil(t, l, c, "a body of 300,000 bytes", func() bool { return len(c.body) == len(body) })
			if string(c.body) != body {
				t.Error("the body gathered differs from the body sent")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			l := newTestLoop(t, setup{})
			c, p := pair(t, l, t0)
			tt.check(t, l, c, p)
		})
	}
}
