package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"course/chapters/gateway"
	"course/chapters/launch"
)

// Step 4: offloading the application. README: "Step 4: offloading the application". Each test feeds whole
// requests to feed (step 3), which hands them over with dispatch, then does the loop's part of the way back:
// the workers' news (takeReady) to onReply (given), as run (step 7) will at every turn.

// request feeds raw, a whole request, to c at now, failing the test if feed does not return within 2 s.
func request(t *testing.T, l *loop, c *conn, raw string, now time.Time) bool {
	t.Helper()
	return within(t, 2*time.Second, "feed, with "+show(raw), func() { l.feed(c, []byte(raw), now) })
}

// answered drives the loop until c has said a whole response, and returns it.
func answered(t *testing.T, l *loop, c *conn, p *peer, what string) response {
	t.Helper()
	var rs []response
	drive(t, l, t0, "a whole response to "+what, func() bool {
		rs, _ = responses(said(c, p), false)
		if len(rs) == 0 && c.closed {
			t.Fatalf("%s: the connection was closed without a whole response (%s)", what, show(said(c, p)))
		}
		return len(rs) > 0
	})
	return rs[0]
}

// sleepy is an app that sleeps for the milliseconds of its path, /300 for 300, and counts the calls running.
type sleepy struct{ running, most atomic.Int32 }

func (s *sleepy) app(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	n := s.running.Add(1)
	defer s.running.Add(-1)
	for m := s.most.Load(); n > m && !s.most.CompareAndSwap(m, n); m = s.most.Load() {
	}
	var ms int
	fmt.Sscanf(env.Get("PATH_INFO"), "/%d", &ms)
	time.Sleep(time.Duration(ms) * time.Millisecond)
	start("200 OK", []gateway.Header{{Name: "Content-Type", Value: "text/plain"}})
	return gateway.Bytes([]byte("slept\n")), nil
}

func TestStep4Offload(t *testing.T) {
	tests := []struct {
		rule  string
		setup setup
		check func(t *testing.T, l *loop)
	}{
		{"a complete request goes to a worker of the pool; its response comes back to the connection", setup{}, func(t *testing.T, l *loop) {
			c, p := pair(t, l, t0)
			if !request(t, l, c, get("/hello"), t0) {
				return
			}
			if r := answered(t, l, c, p, "GET /hello"); r.status != 200 || r.body != "Hello, World!\n" {
				t.Errorf("GET /hello got %d %s; want 200 %q", r.status, show(r.body), "Hello, World!\n")
			}
		}},
		{"while its request is with the pool, the connection is busy, with a reply, and no deadline runs", setup{}, func(t *testing.T, l *loop) {
			c, _ := pair(t, l, t0)
			if !request(t, l, c, get("/sleep?ms=200"), t0) {
				return
			}
			if c.state != busy {
				t.Errorf("c.state is %s once the request is handed over; want busy: the connection is not read until it is answered", stateName(c.state))
			}
			if c.timer.index >= 0 {
				t.Errorf("c's timer is %s while the app runs; want it stopped: the pool's -request-timeout bounds the app, and the header deadline must not cut it", timerState(c))
			}
			if c.reply == nil || l.inPool != 1 {
				t.Errorf("c.reply is %v and l.inPool %d once the request is handed over; want a reply (newReply), counted: 1", c.reply, l.inPool)
			}
		}},
		{"the app runs on a worker, never on the loop's thread: feed returns at once", setup{app: (&sleepy{}).app}, func(t *testing.T, l *loop) {
			c, p := pair(t, l, t0)
			start := time.Now()
			if !request(t, l, c, get("/1000"), t0) {
				return
			}
			if took := time.Since(start); took > 500*time.Millisecond {
				t.Fatalf("feeding a request whose app takes 1s took %v: the loop waited for the app; hand it to the pool (its Go returns at once)", took.Round(time.Millisecond))
			}
			if r := answered(t, l, c, p, "GET /1000"); r.status != 200 {
				t.Errorf("GET /1000 got %d; want 200", r.status)
			}
		}},
		{"requests run side by side, as many as the pool has workers", setup{pool: poolOf(8, 8)}, func(t *testing.T, l *loop) {
			s := &sleepy{}
			l.app = s.app
			const n, ms = 8, 300
			type cp struct {
				c *conn
				p *peer
			}
			var cs []cp
			for range n {
				c, p := pair(t, l, t0)
				cs = append(cs, cp{c, p})
			}
			start := time.Now()
			for _, x := range cs {
				if !request(t, l, x.c, get(fmt.Sprintf("/%d", ms)), t0) {
					return
				}
			}
			for i, x := range cs {
				if r := answered(t, l, x.c, x.p, fmt.Sprintf("request %d of %d", i+1, n)); r.status != 200 {
					t.Errorf("request %d got %d", i+1, r.status)
				}
			}
			took := time.Since(start)
			if took > n*ms*time.Millisecond/2 || s.most.Load() < 2 {
				t.Errorf("%d requests of %d ms on %d workers took %v, with at most %d running at once; want them side by side", n, ms, n, took.Round(time.Millisecond), s.most.Load())
			}
		}},
		{"the app reads the body the loop has read, as wsgi.input", setup{}, func(t *testing.T, l *loop) {
			c, p := pair(t, l, t0)
			if !request(t, l, c, post("/echo", "a body"), t0) {
				return
			}
			if r := answered(t, l, c, p, "POST /echo"); r.status != 200 || r.body != "a body" {
				t.Errorf("POST /echo with the body %q got %d %s; want 200 and the body back: set the request's Body to read c.body", "a body", r.status, show(r.body))
			}
		}},
		{"reading wsgi.input never waits: the whole body is there before the app runs", setup{app: timedInput}, func(t *testing.T, l *loop) {
			c, p := pair(t, l, t0)
			const head = "POST /x HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n"
			if !request(t, l, c, head+"01234", t0) {
				return
			}
			time.Sleep(100 * time.Millisecond) // an app started now would wait for the rest
			if !request(t, l, c, "56789", t0) {
				return
			}
			if r := answered(t, l, c, p, "POST /x"); r.body != "read 10 bytes at once" {
				t.Errorf("the app says %s; want %q: hand the request over at its End, once the body is all read", show(r.body), "read 10 bytes at once")
			}
		}},
		{"the pool holds its workers and its queue: beyond, 503 at once, and the request is not handed over", setup{pool: poolOf(1, 0), app: new(sleepy).app}, func(t *testing.T, l *loop) {
			c1, _ := pair(t, l, t0)
			c2, p2 := pair(t, l, t0)
			if !request(t, l, c1, get("/500"), t0) || !request(t, l, c2, get("/0"), t0) {
				return
			}
			r := firstResponse(t, said(c2, p2))
			if r.status != 503 || r.header["Retry-After"] == "" {
				t.Errorf("with the one worker busy and no queue, a second request got %d; want 503 with Retry-After, at once (tooBusy)", r.status)
			}
			if l.inPool != 1 {
				t.Errorf("l.inPool is %d; want 1: the refused request was not handed over", l.inPool)
			}
		}},
		{"every request handed over is counted out once answered: l.inPool is 0 again", setup{}, func(t *testing.T, l *loop) {
			for _, target := range []string{"/hello", "/env", "/error"} {
				c, p := pair(t, l, t0)
				if !request(t, l, c, get(target), t0) {
					return
				}
				answered(t, l, c, p, "GET "+target)
			}
			drive(t, l, t0, "l.inPool back to 0 (it is "+fmt.Sprint(l.inPool)+")", func() bool { return l.inPool == 0 })
		}},
		{"a request that waits in the queue past -queue-timeout gets 503; an app that runs past -request-timeout, 504", setup{pool: launch.PoolConfig{Workers: 1, Queue: 1, QueueTimeout: 200 * time.Millisecond, RequestTimeout: 600 * time.Millisecond, ShutdownTimeout: 3 * time.Second}, app: new(sleepy).app}, func(t *testing.T, l *loop) {
			c1, p1 := pair(t, l, t0)
			c2, p2 := pair(t, l, t0)
			if !request(t, l, c1, get("/2000"), t0) || !request(t, l, c2, get("/0"), t0) {
				return
			}
			if r := answered(t, l, c2, p2, "a request queued behind a long one"); r.status != 503 {
				t.Errorf("a request queued past -queue-timeout got %d; want 503: give the pool the reply's ended, which hears that it was not run", r.status)
			}
			if r := answered(t, l, c1, p1, "a request whose app runs too long"); r.status != 504 {
				t.Errorf("an app running past -request-timeout got %d; want 504: give the pool the reply's ended, which hears that it gave up", r.status)
			}
		}},
		{"wsgi.multithread is true and wsgi.multiprocess false: several workers, one process", setup{}, func(t *testing.T, l *loop) {
			c, p := pair(t, l, t0)
			if !request(t, l, c, get("/env"), t0) {
				return
			}
			r := answered(t, l, c, p, "GET /env")
			var env map[string]string
			if err := json.Unmarshal([]byte(r.body), &env); err != nil {
				t.Fatalf("GET /env: %v in %s", err, show(r.body))
			}
			if env["wsgi.multithread"] != "true" || env["wsgi.multiprocess"] != "false" {
				t.Errorf("the app is told wsgi.multithread %q, wsgi.multiprocess %q: can another thread, or another process, call it while it runs a request? (newLoop, README: What the gateway sees)", env["wsgi.multithread"], env["wsgi.multiprocess"])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			tt.check(t, newTestLoop(t, tt.setup))
		})
	}
}

// timedInput is an app that reads its whole input, and says whether that took a while.
func timedInput(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	began := time.Now()
	b, err := io.ReadAll(env.Input)
	how := "at once"
	if time.Since(began) > 50*time.Millisecond {
		how = "after waiting " + time.Since(began).Round(time.Millisecond).String()
	}
	if err != nil {
		how += ", then " + err.Error()
	}
	start("200 OK", []gateway.Header{{Name: "Content-Type", Value: "text/plain"}})
	return gateway.Bytes([]byte(fmt.Sprintf("read %d bytes %s", len(b), strings.TrimSpace(how)))), nil
}
