package main

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"course/chapters/launch"
)

// Step 9: deadlines and shutdown. README: "Step 9: deadlines and shutdown". Each test shortens the timeout it
// is about; the others stay at 5 s, so that a deadline set from the wrong timeout shows. The bounds leave
// room for a loaded machine: a deadline of 300 ms passes if the connection closes within 2 s.

// timeouts returns a configuration with every timeout at 5 s, then changed by set.
func timeouts(set func(cfg *launch.Config)) *launch.Config {
	cfg := patient()
	set(cfg)
	return cfg
}

func TestStep9Deadlines(t *testing.T) {
	tests := []struct {
		rule  string
		cfg   *launch.Config
		check func(t *testing.T, c *client, cancel context.CancelFunc)
	}{
		{"a new connection that sends nothing is closed after cfg.HeaderTimeout, without an answer", timeouts(func(cfg *launch.Config) { cfg.HeaderTimeout = 300 * time.Millisecond }),
			func(t *testing.T, c *client, cancel context.CancelFunc) {
				ok, after, got := c.closed(2 * time.Second)
				switch {
				case !ok:
					t.Error("a connection that sent nothing was still open after 2s; want it closed after cfg.HeaderTimeout (300ms): a new connection gets that long to send its first byte")
				case after < 200*time.Millisecond:
					t.Errorf("a connection that sent nothing was closed after %v; want cfg.HeaderTimeout (300ms), not sooner", after.Round(time.Millisecond))
				case got != "":
					t.Errorf("a connection that sent nothing got %s; want it closed without an answer: there is no request to answer", show(got))
				}
			}},
		{"a kept-alive connection is closed after cfg.IdleTimeout without a request", timeouts(func(cfg *launch.Config) { cfg.IdleTimeout = 300 * time.Millisecond }),
			func(t *testing.T, c *client, cancel context.CancelFunc) {
				c.send(lines("GET /hello HTTP/1.1", "Host: x", ""))
				c.response("GET /hello")
				ok, after, _ := c.closed(2 * time.Second)
				switch {
				case !ok:
					t.Error("a connection idle after a response was still open after 2s; want it closed after cfg.IdleTimeout (300ms)")
				case after < 200*time.Millisecond:
					t.Errorf("a connection idle after a response was closed after %v; want cfg.IdleTimeout (300ms), not sooner", after.Round(time.Millisecond))
				}
			}},
		{"slowloris: a head that trickles in is cut at cfg.HeaderTimeout from its first byte, however steady the trickle", timeouts(func(cfg *launch.Config) { cfg.HeaderTimeout = 500 * time.Millisecond }),
			func(t *testing.T, c *client, cancel context.CancelFunc) {
				c.send("GET /hello HTTP/1.1\r\n")
				go func() { // a header line every 100ms, each read well within any timeout per read
					for range 40 {
						time.Sleep(100 * time.Millisecond)
						if _, err := c.conn.Write([]byte("X-Slow: 1\r\n")); err != nil {
							return
						}
					}
				}()
				if ok, _, _ := c.closed(2500 * time.Millisecond); !ok {
					t.Error("a client sending a header line every 100ms was still connected after 2.5s; want it cut 500ms (cfg.HeaderTimeout) after its first byte: one deadline for the whole head, not one per read")
				}
			}},
		{"a body that stops coming is cut off after cfg.BodyTimeout", timeouts(func(cfg *launch.Config) { cfg.BodyTimeout = 300 * time.Millisecond }),
			func(t *testing.T, c *client, cancel context.CancelFunc) {
				c.send(lines("POST /echo HTTP/1.1", "Host: x", "Content-Length: 100", "") + "only ten b")
				if ok, _, _ := c.closed(2 * time.Second); !ok {
					t.Error("a client that sent 10 bytes of a 100-byte body and stopped was still connected after 2s; want it cut off after cfg.BodyTimeout (300ms)")
				}
			}},
		{"the response may be written until cfg.BodyTimeout + cfg.WriteTimeout after the head: a slow app eats into it", timeouts(func(cfg *launch.Config) {
			cfg.BodyTimeout, cfg.WriteTimeout = 800*time.Millisecond, 800*time.Millisecond
		}),
			func(t *testing.T, c *client, cancel context.CancelFunc) {
				c.send(lines("GET /sleep?ms=1000 HTTP/1.1", "Host: x", ""))
				code, _, _, err := c.tryResponse()
				switch {
				case err != nil:
					t.Errorf("GET /sleep?ms=1000 got no response (%v): the app took 1s, and the response may be written until cfg.BodyTimeout + cfg.WriteTimeout (1.6s) after the head, not cfg.WriteTimeout (800ms) alone", err)
				case code != 200:
					t.Errorf("GET /sleep?ms=1000 got %d; want 200", code)
				}
			}},
		{"a response not written within cfg.BodyTimeout + cfg.WriteTimeout of the head is abandoned", timeouts(func(cfg *launch.Config) {
			cfg.BodyTimeout, cfg.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
		}),
			func(t *testing.T, c *client, cancel context.CancelFunc) {
				c.send(lines("GET /sleep?ms=1500 HTTP/1.1", "Host: x", ""))
				ok, _, got := c.closed(3 * time.Second)
				switch {
				case got != "":
					t.Errorf("the response came (%s) although the app took 1.5s and the write deadline was 600ms after the head; want the write to fail and the connection closed: set a write deadline", show(got))
				case !ok:
					t.Error("the connection was still open 3s after a request whose app took 1.5s, with 300ms + 300ms to write the response; want it closed")
				}
			}},
		{"a request refused on a kept-alive connection gets its answer, though the last response's write deadline has passed", timeouts(func(cfg *launch.Config) {
			cfg.BodyTimeout, cfg.WriteTimeout = 100*time.Millisecond, 100*time.Millisecond
		}),
			func(t *testing.T, c *client, cancel context.CancelFunc) {
				c.send(lines("GET /hello HTTP/1.1", "Host: x", ""))
				c.response("GET /hello")
				time.Sleep(400 * time.Millisecond) // idle, past the first response's write deadline (200ms after its head)
				c.send(lines("GET /hello HTTP/1.1", "Host : x", ""))
				code, _, _, err := c.tryResponse()
				switch {
				case err != nil:
					t.Errorf("a bad request 400ms after the first response got no answer (%v): the write deadline of the first response (cfg.BodyTimeout + cfg.WriteTimeout = 200ms after its head) had passed; set a new write deadline before http1.Refuse writes", err)
				case code != 400:
					t.Errorf("a request with a space before a colon got %d; want 400", code)
				}
			}},
		{"shutdown: a connection that waits for its next request is closed at once when ctx is cancelled", patient(),
			func(t *testing.T, c *client, cancel context.CancelFunc) {
				c.send(lines("GET /hello HTTP/1.1", "Host: x", ""))
				c.response("GET /hello")
				time.Sleep(100 * time.Millisecond)
				cancel()
				if ok, _, _ := c.closed(1500 * time.Millisecond); !ok {
					t.Error("an idle kept-alive connection was still open 1.5s after ctx was cancelled; want it closed at once, not after cfg.IdleTimeout (5s): wake the wait for the next request when ctx is cancelled")
				}
			}},
		{"shutdown: a request whose body is still coming is read and answered: only the wait for a new request is cut", patient(),
			func(t *testing.T, c *client, cancel context.CancelFunc) {
				c.send(lines("POST /echo HTTP/1.1", "Host: x", "Content-Length: 10", "") + "01234")
				time.Sleep(100 * time.Millisecond)
				cancel()
				time.Sleep(100 * time.Millisecond)
				c.send("56789")
				if code, _, body := c.response("a POST /echo whose body was half sent when ctx was cancelled"); code != 200 || body != "0123456789" {
					t.Errorf("got %d %q; want 200 \"0123456789\": the request had started, so it is finished, body included", code, body)
				}
			}},
		{"shutdown: a request in flight is answered, then the connection closes", patient(),
			func(t *testing.T, c *client, cancel context.CancelFunc) {
				c.send(lines("GET /sleep?ms=400 HTTP/1.1", "Host: x", ""))
				time.Sleep(100 * time.Millisecond)
				cancel()
				if code, _, _ := c.response("GET /sleep?ms=400, in flight when ctx was cancelled"); code != 200 {
					t.Errorf("got %d; want 200: a request the server has started is finished", code)
				}
				if ok, _, _ := c.closed(1500 * time.Millisecond); !ok {
					t.Error("the connection was still open 1.5s after the last response of a server that is stopping; want it closed, not kept for another request")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tt.check(t, connect(t, ctx, tt.cfg), cancel)
		})
	}
	t.Run("shutdown: a request whose first byte comes while the wake runs is answered: the wake and the loop leaving its wait do not interleave", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var c *client
		var first error // the client's write of the request's first line, made while the wake is held
		conn := &heldWake{reads: make(chan struct{}, 1), failed: make(chan struct{}, 1), later: make(chan struct{}, 1),
			applied: make(chan struct{})}
		conn.hold = func() {
			drain(conn.reads)
			drain(conn.later)
			if _, first = io.WriteString(c.conn, "GET /hello HTTP/1.1\r\n"); first != nil {
				return
			}
			// The wake has decided to move the read deadline; the request's first bytes now come, and the
			// loop reads them. Give the loop time to leave its wait and set the head's deadline, if it can.
			select {
			case <-conn.reads:
			case <-time.After(2 * time.Second):
				return
			}
			select {
			case <-conn.later:
			case <-time.After(time.Second):
			}
		}
		c = connectVia(t, ctx, patient(), func(nc net.Conn) net.Conn { conn.Conn = nc; return conn })
		c.send(lines("GET /hello HTTP/1.1", "Host: x", ""))
		c.response("GET /hello")
		time.Sleep(100 * time.Millisecond) // the loop waits for the next request
		cancel()
		select {
		case <-conn.applied:
		case <-time.After(3 * time.Second):
			t.Fatal("no read deadline was moved to now within 3s of ctx being cancelled, while the connection waited for its next request: wake the wait by moving the read deadline (context.AfterFunc)")
		}
		if first != nil {
			t.Fatalf("the client could not send the request's first line: %v", first)
		}
		// The rest of the head comes once the loop has either set a deadline for it or failed to read it, so
		// that it cannot slip in before a deadline already past takes effect.
		select {
		case <-conn.later:
		case <-conn.failed:
		case <-time.After(3 * time.Second):
		}
		c.send(lines("Host: x", ""))
		code, closes, _, err := c.tryResponse()
		switch {
		case err != nil:
			t.Errorf("a request whose first line was read while the wake ran got no answer (%v): the wake saw the wait, then moved the read deadline after the loop had left the wait and set the head's, and cut the request. The wake's check and deadline change must not interleave with the loop leaving the wait: one mutex around both (README: Step 9)", err)
		case code != 200 || !closes:
			t.Errorf("got %d, Connection: close %v; want 200 with Connection: close: the request had begun, so it is answered, and the server is stopping", code, closes)
		}
	})
}

// heldWake is the server's side of a connection that holds the shutdown's wake (the first SetReadDeadline to
// a time already past) while hold runs, before it takes effect, so that a test can make a client act between
// the wake's decision and its effect. It signals the reads that return bytes or fail, and the read deadlines
// set in the future.
type heldWake struct {
	net.Conn
	hold    func()
	once    sync.Once
	reads   chan struct{} // a read returned bytes
	failed  chan struct{} // a read failed
	later   chan struct{} // a read deadline in the future was set
	applied chan struct{} // closed once the held wake has taken effect
}

func (c *heldWake) SetReadDeadline(t time.Time) error {
	if t.After(time.Now()) {
		err := c.Conn.SetReadDeadline(t)
		signal(c.later)
		return err
	}
	var err error
	held := false
	c.once.Do(func() {
		held = true
		c.hold()
		err = c.Conn.SetReadDeadline(t)
		close(c.applied)
	})
	if held {
		return err
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *heldWake) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		signal(c.reads)
	}
	if err != nil {
		signal(c.failed)
	}
	return n, err
}

// signal sends on ch, a channel of one place, unless a signal already waits there.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// drain takes the signal that waits on ch, if any.
func drain(ch chan struct{}) {
	select {
	case <-ch:
	default:
	}
}
