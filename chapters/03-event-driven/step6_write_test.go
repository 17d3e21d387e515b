package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"course/chapters/gateway"
)

// Step 6: writing. README: "Step 6: writing". Each test puts output in a connection, as onReply does, and
// calls write and watch; the client reads it, or not.

// writeNow calls l.write(c, now), failing the test if it does not return within 2 s.
func writeNow(t *testing.T, l *loop, c *conn, now time.Time) bool {
	t.Helper()
	return within(t, 2*time.Second, "write", func() { l.write(c, now) })
}

// responding puts c in the state of a request whose response is being written: busy, with out to write.
func responding(c *conn, out string, answered, keep bool) {
	c.state, c.req = busy, &gateway.Request{Method: "GET", Target: "/big", Major: 1, Minor: 1}
	c.out, c.sent, c.answered, c.keep = []byte(out), 0, answered, keep
}

// drain reads and drops what has arrived from the server, as a client that reads does, and returns how many
// bytes that was.
func (p *peer) drain() int {
	p.f.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	n, _ := io.Copy(io.Discard, p.br) // stops at the deadline
	return int(n)
}

// big is more than the kernel's buffers of a socketpair hold.
var big = strings.Repeat("0123456789abcdef", 1<<18) // 4 MiB

func TestStep6Write(t *testing.T) {
	tests := []struct {
		rule  string
		check func(t *testing.T, l *loop, c *conn, p *peer)
	}{
		{"write sends the output, and empties the buffer once it is all written, keeping its memory", func(t *testing.T, l *loop, c *conn, p *peer) {
			responding(c, "HTTP/1.1 200 OK\r\n", false, true)
			c.out = append(make([]byte, 0, 4096), c.out...)
			if !writeNow(t, l, c, t0) {
				return
			}
			if got := p.received(); got != "HTTP/1.1 200 OK\r\n" {
				t.Errorf("the client got %s; want %s", show(got), show("HTTP/1.1 200 OK\r\n"))
			}
			if len(c.out) != 0 || c.sent != 0 || cap(c.out) != 4096 {
				t.Errorf("all written, c.out has %d bytes (capacity %d), c.sent %d; want 0 bytes, the same buffer (4096), and 0: c.out[:0] keeps the memory for the rest of the response", len(c.out), cap(c.out), c.sent)
			}
		}},
		{"a socket that takes no more (EAGAIN): write returns at once, and keeps the rest", func(t *testing.T, l *loop, c *conn, p *peer) {
			responding(c, big, false, true)
			if !writeNow(t, l, c, t0) {
				return
			}
			if c.sent == 0 || c.unsent() == 0 {
				t.Errorf("after a write of %d bytes that nobody reads, c.sent is %d, and %d unsent; want some written, the rest kept", len(big), c.sent, c.unsent())
			}
		}},
		{"the write deadline starts when output is left, and moves only when a write makes progress", func(t *testing.T, l *loop, c *conn, p *peer) {
			responding(c, big, false, true)
			if !writeNow(t, l, c, t0) {
				return
			}
			if want := t0.Add(l.cfg.WriteTimeout); c.timer.index < 0 || !c.timer.when.Equal(want) {
				t.Fatalf("with output left, the timer is %s; want now + l.cfg.WriteTimeout (%v): a client must keep taking its response", timerState(c), want)
			}
			if !writeNow(t, l, c, t0.Add(time.Second)) {
				return
			}
			if want := t0.Add(l.cfg.WriteTimeout); !c.timer.when.Equal(want) {
				t.Fatalf("a write a second later that wrote nothing moved the timer to %v; want it left at %v: a client that stops reading is closed -write-timeout after its last progress", c.timer.when, want)
			}
			if p.drain() == 0 {
				t.Fatal("the client found nothing to read")
			}
			if !writeNow(t, l, c, t0.Add(2*time.Second)) {
				return
			}
			if want := t0.Add(2*time.Second + l.cfg.WriteTimeout); !c.timer.when.Equal(want) {
				t.Errorf("a write that made progress 2s later left the timer at %v; want %v: the deadline runs from the last write that made progress, as nginx's send_timeout", c.timer.when, want)
			}
		}},
		{"once the response is all written, the request is over (next): keep-alive, the connection is idle", func(t *testing.T, l *loop, c *conn, p *peer) {
			responding(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true, true)
			if !writeNow(t, l, c, t0) {
				return
			}
			if c.state != idle || c.closed {
				t.Errorf("after the whole response of a kept-alive connection, c is in state %s, closed %v; want idle: call next when c.answered", stateName(c.state), c.closed)
			}
		}},
		{"a part of a response written: the request is not over", func(t *testing.T, l *loop, c *conn, p *peer) {
			responding(c, "HTTP/1.1 200 OK\r\n", false, true)
			if !writeNow(t, l, c, t0) {
				return
			}
			if c.state != busy || c.closed {
				t.Errorf("after writing a part of a response whose worker has more to come (c.answered false), c is in state %s, closed %v; want it busy", stateName(c.state), c.closed)
			}
		}},
		{"a client gone (EPIPE): the connection is closed", func(t *testing.T, l *loop, c *conn, p *peer) {
			p.f.Close()
			responding(c, "HTTP/1.1 200 OK\r\n", false, true)
			if writeNow(t, l, c, t0) && !c.closed {
				t.Error("a write to a client that has closed its connection failed, and c is still open")
			}
		}},
		{"the worker making the response hears what is left to write (backpressure)", func(t *testing.T, l *loop, c *conn, p *peer) {
			responding(c, big, false, true)
			r := newReply(l, c, c.req)
			c.reply = r
			r.mu.Lock()
			r.unsent = len(big) // as take leaves it
			r.mu.Unlock()
			if !writeNow(t, l, c, t0) {
				return
			}
			r.mu.Lock()
			told := r.unsent
			r.mu.Unlock()
			if told != c.unsent() {
				t.Errorf("after the write, the reply says %d bytes unsent, and c has %d: tell the worker (c.reply.sent), which waits while maxOut bytes or more are unsent", told, c.unsent())
			}
		}},
		{"watch asks for EPOLLOUT while output waits, and only then", func(t *testing.T, l *loop, c *conn, p *peer) {
			responding(c, big, false, true)
			if !writeNow(t, l, c, t0) || !within(t, 2*time.Second, "watch", func() { l.watch(c, false) }) {
				return
			}
			if c.events&unix.EPOLLOUT == 0 {
				t.Fatalf("with %d bytes left to write, c.events is %s; want EPOLLOUT in it, to hear when the socket has room", c.unsent(), eventNames(c.events))
			}
			for deadline := time.Now().Add(5 * time.Second); c.unsent() > 0; { // the client reads it all
				if time.Now().After(deadline) {
					t.Fatalf("%d bytes still unsent after 5s of a client reading and of calls to write", c.unsent())
				}
				p.drain()
				if !writeNow(t, l, c, t0) {
					return
				}
			}
			if !within(t, 2*time.Second, "watch", func() { l.watch(c, false) }) {
				return
			}
			if c.events&unix.EPOLLOUT != 0 || watched(t, l, c.fd)&unix.EPOLLOUT != 0 {
				t.Errorf("all written, c.events is %s, and epoll reports %s; want no EPOLLOUT: an empty socket is writable nearly always, and epoll would report it at every turn (a loop that spins)", eventNames(c.events), eventNames(watched(t, l, c.fd)))
			}
		}},
		{"watch's EPOLL_CTL_MOD makes epoll watch what c.events says", func(t *testing.T, l *loop, c *conn, p *peer) {
			responding(c, "x", false, true)
			if !within(t, 2*time.Second, "watch", func() { l.watch(c, false) }) {
				return
			}
			if got := watched(t, l, c.fd); got&unix.EPOLLOUT == 0 || c.events&unix.EPOLLOUT == 0 {
				t.Errorf("with a byte to write, c.events is %s and epoll reports %s; want EPOLLOUT in both", eventNames(c.events), eventNames(got))
			}
		}},
		{"a connection that does not want to read, reported readable: watch turns EPOLLIN off, or the loop spins", func(t *testing.T, l *loop, c *conn, p *peer) {
			responding(c, "", false, true) // busy: its request is with the pool
			p.send(get("/hello"))          // a pipelined request: epoll reports c readable
			if !within(t, 2*time.Second, "watch", func() { l.watch(c, true) }) {
				return
			}
			if got := watched(t, l, c.fd); got&unix.EPOLLIN != 0 || c.events&unix.EPOLLIN != 0 {
				t.Errorf("busy, with bytes the loop leaves unread (ignoredIn), c.events is %s and epoll reports %s; want no EPOLLIN: level-triggered epoll reports them at every turn", eventNames(c.events), eventNames(got))
			}
			c.state = idle // answered: it wants to read again
			if !within(t, 2*time.Second, "watch", func() { l.watch(c, false) }) {
				return
			}
			if got := watched(t, l, c.fd); got&unix.EPOLLIN == 0 || c.events&unix.EPOLLIN == 0 {
				t.Errorf("idle again, c.events is %s and epoll reports %s; want EPOLLIN in both: the request waiting must be read", eventNames(c.events), eventNames(got))
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
