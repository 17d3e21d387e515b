package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"course/chapters/launch"
)

// TestExchanges drives the state machine of a connection through a socketpair: requests in, responses out,
// and whether the connection stays open.
func TestExchanges(t *testing.T) {
	type want struct {
		status int
		body   string // "" matches any body
		header string // "Name: value" that must be in the response, if set
	}
	chunkedEcho := "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5;ext=1\r\nHello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
	tests := []struct {
		name   string
		send   string
		want   []want
		closes bool // the server closes the connection after the responses
	}{
		{"hello", get("/hello"), []want{{200, "Hello, World!\n", "Content-Length: 14"}}, false},
		{"pipelined, answered in order", get("/sleep?ms=100") + get("/hello") +
			"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nfirst" + chunkedEcho,
			[]want{{200, "slept 100 ms\n", ""}, {200, "Hello, World!\n", ""}, {200, "first", ""}, {200, "Hello, world", ""}}, false},
		{"chunked body with extensions and trailers", chunkedEcho, []want{{200, "Hello, world", ""}}, false},
		{"HEAD", "HEAD /hello HTTP/1.1\r\nHost: test\r\n\r\n" + get("/hello"),
			[]want{{200, "", "Content-Length: 14"}, {200, "Hello, World!\n", ""}}, false},
		{"streamed body", get("/stream?chunks=3&bytes=4"), []want{{200, "abcdefghijkl", "Transfer-Encoding: chunked"}}, false},
		{"100-continue", "POST /echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
			[]want{{100, "", ""}, {200, "hi", ""}}, false},
		{"unknown expectation", "POST /echo HTTP/1.1\r\nHost: test\r\nExpect: magic\r\nContent-Length: 2\r\n\r\nhi",
			[]want{{417, "", "Connection: close"}}, true},
		{"app error is a 500, and the connection goes on", get("/error") + get("/hello"),
			[]want{{500, "", ""}, {200, "Hello, World!\n", ""}}, false},
		{"app panic is a 500", get("/panic"), []want{{500, "", ""}}, false},
		{"Connection: close", get("/hello", "Connection: close"), []want{{200, "Hello, World!\n", "Connection: close"}}, true},
		{"HTTP/1.0", "GET /hello HTTP/1.0\r\n\r\n", []want{{200, "Hello, World!\n", "Connection: close"}}, true},
		{"HTTP/1.0 keep-alive", "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			[]want{{200, "Hello, World!\n", "Connection: keep-alive"}}, false},
		{"malformed", "GET /hello HTTP/1.1\r\nHost : test\r\n\r\n", []want{{400, "", "Connection: close"}}, true},
		{"smuggling: the request after the body is not answered",
			"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get("/hello"),
			[]want{{400, "", "Connection: close"}}, true},
		{"body over the limit", "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 2000000\r\n\r\n",
			[]want{{413, "", "Connection: close"}}, true},
		{"bad target", "GET nopath HTTP/1.1\r\nHost: test\r\n\r\n", []want{{400, "", ""}}, true},
		{"cut short by the client's close", "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nabc",
			[]want{{400, "", "Connection: close"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cs := start(t, options{clients: 1})
			c := cs[0]
			c.send(tt.send)
			if strings.HasPrefix(tt.name, "cut short") {
				require.NoError(t, shutdownWrite(c))
			}
			for i, w := range tt.want {
				var r response
				if strings.HasPrefix(tt.send, "HEAD") && i == 0 {
					r = c.headResponse()
				} else {
					r = c.response()
				}
				require.Equal(t, w.status, r.Status, "response %d: %+v", i+1, r)
				if w.body != "" {
					require.Equal(t, w.body, r.Body, "response %d", i+1)
				}
				if w.header != "" {
					name, value, _ := strings.Cut(w.header, ": ")
					require.Equal(t, value, r.Header[name], "response %d: header %s", i+1, name)
				}
			}
			if tt.closes {
				c.expectClosed(2 * time.Second)
			} else {
				c.expectOpen(200 * time.Millisecond)
			}
		})
	}
}

// TestByteAtATime sends requests one byte per write, so that the loop reads them a byte at a time.
func TestByteAtATime(t *testing.T) {
	_, cs := start(t, options{clients: 1})
	c := cs[0]
	req := get("/hello") + "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
	for i := range len(req) {
		c.send(req[i : i+1])
		time.Sleep(time.Millisecond)
	}
	require.Equal(t, "Hello, World!\n", c.response().Body)
	require.Equal(t, "abc", c.response().Body)
}

// TestTimeouts checks each deadline: for the first request, the head, the body, the next request, and a
// client that stops reading its response.
func TestTimeouts(t *testing.T) {
	const d = 300 * time.Millisecond
	tests := []struct {
		name string
		run  func(c *client)
	}{
		{"a new connection that sends nothing", func(c *client) {}},
		{"idle after a response", func(c *client) {
			c.send(get("/hello"))
			c.response()
		}},
		{"a head that never ends", func(c *client) {
			// A byte every 50 ms: a deadline per read would never fire.
			for _, b := range "GET /hello HTTP/1.1\r\nHost: test\r\nX-Slow: " {
				if c.trySend(string(b)) != nil {
					return // closed
				}
				time.Sleep(d / 6)
			}
		}},
		{"a body that never ends", func(c *client) {
			c.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nonly ten b")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.HeaderTimeout, cfg.IdleTimeout, cfg.BodyTimeout, cfg.WriteTimeout = d, d, d, d
			_, cs := start(t, options{cfg: cfg, clients: 1})
			start := time.Now()
			tt.run(cs[0])
			cs[0].expectClosed(10 * d)
			require.GreaterOrEqual(t, time.Since(start), d*9/10, "closed before the deadline")
		})
	}
}

// TestSlowReader checks backpressure: a client that stops reading a response of unbounded length holds the
// worker that makes it, and a bounded amount of memory, while other connections are served at once; and the
// write deadline closes it in the end.
func TestSlowReader(t *testing.T) {
	const chunk = 64 << 10
	var pulled chunkCounter
	cfg := testConfig()
	cfg.WriteTimeout = time.Second
	_, cs := start(t, options{cfg: cfg, clients: 2, app: pulled.app(chunk)})
	slow, other := cs[0], cs[1]
	slow.send(get("/endless"))

	// The socket buffers fill, then the loop's, then the worker waits.
	before := pulled.waitStable(t)
	for range 5 {
		t0 := time.Now()
		other.send(get("/hello"))
		require.Equal(t, 200, other.response().Status)
		require.Less(t, time.Since(t0), 500*time.Millisecond, "another connection waited for the slow one")
	}
	after := pulled.bytes()
	require.Equal(t, before, after, "the app's body was pulled while nobody read it")
	// The kernel's buffers of a socketpair, the loop's maxOut and a chunk or two in the worker's hands.
	require.Less(t, after, int64(4<<20), "bytes made for a client that reads nothing")

	// No progress for the write deadline: the server gives up. The client then reads what the buffers hold,
	// and the close.
	time.Sleep(cfg.WriteTimeout + 500*time.Millisecond)
	slow.drainUntilClosed(5 * time.Second)
}

// TestPoolAnswers checks what the loop answers when the pool does not run a request, or gives up on it:
// 503 when it is full or the request waited too long in its queue, 504 when the app runs too long.
func TestPoolAnswers(t *testing.T) {
	tests := []struct {
		name    string
		pool    launch.PoolConfig
		first   string // keeps the one worker busy
		second  string // sent 100 ms later
		status  int    // the answer to the second
		closes  bool   // then the second connection is closed
		cutOff  bool   // the second response starts, and is cut off by the close
		header  string // "Name: value" expected in the second's answer
		firstOK bool   // the first gets its 200 all the same
	}{
		{"full: no worker, no room in the queue", poolWith(1, 0, 5*time.Second, 30*time.Second),
			get("/sleep?ms=500"), get("/hello"), 503, false, false, "Retry-After: 1", true},
		{"full, and the client closes", poolWith(1, 0, 5*time.Second, 30*time.Second),
			get("/sleep?ms=500"), get("/hello", "Connection: close"), 503, true, false, "Connection: close", true},
		{"waited too long in the queue", poolWith(1, 1, 200*time.Millisecond, 30*time.Second),
			get("/sleep?ms=800"), get("/hello"), 503, false, false, "Retry-After: 1", true},
		{"ran too long", poolWith(2, 0, 5*time.Second, 300*time.Millisecond),
			get("/hello"), get("/sleep?ms=2000"), 504, true, false, "Connection: close", true},
		{"ran too long, response started", poolWith(2, 0, 5*time.Second, 300*time.Millisecond),
			get("/hello"), get("/stream?chunks=10&bytes=3&ms=100"), 200, true, true, "Transfer-Encoding: chunked", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cs := start(t, options{clients: 2, pool: tt.pool})
			first, second := cs[0], cs[1]
			first.send(tt.first)
			time.Sleep(100 * time.Millisecond)
			second.send(tt.second)
			if tt.cutOff {
				second.f.SetReadDeadline(time.Now().Add(5 * time.Second))
				line, err := second.br.ReadString('\n')
				require.NoError(t, err)
				require.Equal(t, "HTTP/1.1 200 OK\r\n", line)
				_, err = second.readRest(response{Status: 200}, false)
				require.Error(t, err, "a chunked body without its last chunk")
			} else {
				r := second.response()
				require.Equal(t, tt.status, r.Status, r.Body)
				name, value, _ := strings.Cut(tt.header, ": ")
				require.Equal(t, value, r.Header[name])
			}
			if tt.closes {
				second.expectClosed(2 * time.Second)
			} else {
				second.expectOpen(100 * time.Millisecond)
			}
			require.Equal(t, 200, first.response().Status)
		})
	}
}

// TestShutdown checks the stop on SIGTERM: idle connections are closed at once, a response in flight is
// finished, then its connection is closed, and the loop returns.
func TestShutdown(t *testing.T) {
	s, cs := start(t, options{clients: 3})
	idleConn, busyConn, halfConn := cs[0], cs[1], cs[2]
	busyConn.send(get("/sleep?ms=400"))
	halfConn.send("GET /hello HTTP/1.1\r\n")
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	s.l.requestStop()
	idleConn.expectClosed(time.Second)
	r := busyConn.response()
	require.Equal(t, "slept 400 ms\n", r.Body)
	busyConn.expectClosed(time.Second)
	halfConn.send("Host: test\r\n\r\n")
	require.Equal(t, "close", halfConn.response().Header["Connection"], "a request read during the shutdown closes its connection")
	select {
	case err := <-s.done:
		require.NoError(t, err)
		s.done <- err // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("the loop did not return within 5s of the stop")
	}
	require.Less(t, time.Since(t0), 5*time.Second)
}

// TestConcurrentSleeps is the point of the pool: 20 requests that wait 300 ms each, on 20 connections, are
// served side by side, not one after the other (6 s).
func TestConcurrentSleeps(t *testing.T) {
	const n, ms = 20, 300
	s, _ := start(t, options{listen: true, pool: poolConfig(8, 64)})
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, s.addr())
	}
	t0 := time.Now()
	for _, c := range clients {
		c.send(get(fmt.Sprintf("/sleep?ms=%d", ms)))
	}
	for _, c := range clients {
		require.Equal(t, fmt.Sprintf("slept %d ms\n", ms), c.response().Body)
	}
	took := time.Since(t0)
	t.Logf("%d requests of %d ms on 8 workers took %v", n, ms, took)
	require.Less(t, took, n*ms*time.Millisecond/2, "the requests were not served concurrently")
}
