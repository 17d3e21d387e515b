package main

import (
	"io"
	"testing"
	"time"

	"course/chapters/gateway"
)

// Step 5: keep-alive. README: "Step 5: keep-alive". Each test puts a connection in the state of a request
// whose response is all written, as write (step 6) leaves it, and calls next.

// ended is the state of a response all written: which says whether it keeps the connection, whether the
// request was refused (drain), and what was read after it (in).
type ended struct {
	keep, drain bool
	in          string
}

// over puts c in the state e, with a request, its body and its reply, as write leaves a connection whose
// response is all written, then calls next at now.
func over(t *testing.T, l *loop, c *conn, e ended, now time.Time) bool {
	t.Helper()
	req := &gateway.Request{Method: "GET", Target: "/hello", Major: 1, Minor: 1}
	c.state, c.req, c.body, c.reply = busy, req, []byte("a body"), newReply(l, c, req)
	c.answered, c.keep, c.drain, c.in = true, e.keep, e.drain, []byte(e.in)
	c.out, c.sent = make([]byte, 0, 4096), 0 // a buffer, empty: all written
	return within(t, 2*time.Second, "next", func() { l.next(c, now) })
}

func TestStep5KeepAlive(t *testing.T) {
	later := t0.Add(time.Minute)
	tests := []struct {
		rule  string
		end   ended
		check func(t *testing.T, l *loop, c *conn, p *peer)
	}{
		{"keep-alive: the connection is idle again, and forgets the request", ended{keep: true}, func(t *testing.T, l *loop, c *conn, p *peer) {
			if c.closed || c.state != idle {
				t.Fatalf("after a response that keeps the connection, c is closed %v, in state %s; want open and idle", c.closed, stateName(c.state))
			}
			if c.req != nil || c.body != nil || c.reply != nil || c.answered {
				t.Errorf("the idle connection still holds its last request: req %v, body %q, reply %v, answered %v; want nil, nil, nil, false", c.req != nil, c.body, c.reply != nil, c.answered)
			}
		}},
		{"an idle connection holds no output buffer", ended{keep: true}, func(t *testing.T, l *loop, c *conn, p *peer) {
			if cap(c.out) != 0 {
				t.Errorf("the idle connection keeps an output buffer of %d bytes: 10,000 idle connections would keep 10,000 (c.out = nil)", cap(c.out))
			}
		}},
		{"an idle connection waits for its next request under -idle-timeout", ended{keep: true}, func(t *testing.T, l *loop, c *conn, p *peer) {
			if want := later.Add(l.cfg.IdleTimeout); c.timer.index < 0 || !c.timer.when.Equal(want) {
				t.Errorf("the idle connection's timer is %s; want set to now + l.cfg.IdleTimeout (%v): a client may keep a connection open, not for good", timerState(c), want)
			}
		}},
		{"pipelined requests in c.in are fed now: the next request starts at once", ended{keep: true, in: get("/counter") + "GET /x"}, func(t *testing.T, l *loop, c *conn, p *peer) {
			if c.req == nil || c.req.Target != "/counter" {
				t.Fatalf("after a response, with the next request waiting in c.in, c.req is %v; want the request for /counter, fed to the parser (feed)", c.req)
			}
			if string(c.in) != "GET /x" {
				t.Errorf("c.in is %s; want %s, what is left after the request fed", show(string(c.in)), show("GET /x"))
			}
		}},
		{"Connection: close: the connection is closed", ended{}, func(t *testing.T, l *loop, c *conn, p *peer) {
			if !c.closed {
				t.Errorf("after a response that does not keep the connection (c.keep false), c is open, in state %s; want it closed", stateName(c.state))
			}
		}},
		{"a refused request, whose client may still send its body: the close lingers", ended{drain: true}, func(t *testing.T, l *loop, c *conn, p *peer) {
			lingered(t, c, p)
		}},
		{"pipelined bytes unread when the connection ends: the close lingers", ended{in: get("/hello")}, func(t *testing.T, l *loop, c *conn, p *peer) {
			lingered(t, c, p)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			l := newTestLoop(t, setup{})
			c, p := pair(t, l, t0)
			if over(t, l, c, tt.end, later) {
				tt.check(t, l, c, p)
			}
		})
	}

	t.Run("shutting down: the connection is closed, even when its response keeps it", func(t *testing.T) {
		l := newTestLoop(t, setup{})
		c, _ := pair(t, l, t0)
		l.stopping, l.stopBy = true, later.Add(time.Second)
		if over(t, l, c, ended{keep: true}, later) && !c.closed {
			t.Errorf("while the server is stopping (l.stopping), a connection whose response is sent stays open, in state %s; want it closed", stateName(c.state))
		}
	})
}

// lingered checks that c is closed gracefully: in state lingering, its sending side shut down (the client
// reads the end of the stream), still open for what the client sends.
func lingered(t *testing.T, c *conn, p *peer) {
	t.Helper()
	if c.closed || c.state != lingering {
		t.Fatalf("c is closed %v, in state %s; want it lingering (linger, given): a close with bytes unread makes the kernel reset the connection, which may destroy the response before the client reads it", c.closed, stateName(c.state))
	}
	p.f.SetReadDeadline(time.Now().Add(time.Second))
	if b, err := io.ReadAll(p.br); err != nil {
		t.Errorf("the client did not read the end of the stream: %v (got %s)", err, show(string(b)))
	}
}
