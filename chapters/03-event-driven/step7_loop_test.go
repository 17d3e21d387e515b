package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"course/chapters/gateway"
)

// Step 7: the turn of the loop. README: "Step 7: the turn of the loop". From here on the loop runs: the
// tests are its clients, and see only what a client sees.

func TestStep7Loop(t *testing.T) {
	t.Run("onEvent", func(t *testing.T) {
		events := []struct {
			rule   string
			events uint32
			send   string
			check  func(t *testing.T, c *conn, p *peer)
		}{
			{"a hang-up (EPOLLHUP) closes the connection at once", unix.EPOLLHUP | unix.EPOLLIN, "", func(t *testing.T, c *conn, p *peer) {
				if !c.closed {
					t.Error("after EPOLLHUP, c is open: level-triggered epoll reports a hang-up at every turn until the socket is closed")
				}
			}},
			{"an error (EPOLLERR) closes the connection at once", unix.EPOLLERR, "", func(t *testing.T, c *conn, p *peer) {
				if !c.closed {
					t.Error("after EPOLLERR, c is open: level-triggered epoll reports an error at every turn until the socket is closed")
				}
			}},
			{"EPOLLIN: the connection is read", unix.EPOLLIN, "GET /hel", func(t *testing.T, c *conn, p *peer) {
				if c.state != head {
					t.Errorf("after EPOLLIN, with the start of a request in the socket, c is in state %s; want head: read it", stateName(c.state))
				}
			}},
			{"EPOLLOUT: the connection's output is written", unix.EPOLLOUT, "", func(t *testing.T, c *conn, p *peer) {
				if got := p.received(); got != "HTTP/1.1 200 OK\r\n" {
					t.Errorf("after EPOLLOUT, the client got %s; want what c.out held: write it", show(got))
				}
			}},
			{"EPOLLIN on a connection that does not want to read: it is not read, and EPOLLIN goes off", unix.EPOLLIN, get("/hello"), func(t *testing.T, c *conn, p *peer) {
				if n := pending(t, c); n != len(get("/hello")) || c.events&unix.EPOLLIN != 0 {
					t.Errorf("a busy connection reported readable: %d of its %d bytes left unread, c.events %s; want them all left unread (wantsRead), and EPOLLIN off (watch, with ignoredIn)", n, len(get("/hello")), eventNames(c.events))
				}
			}},
		}
		for _, tt := range events {
			t.Run(tt.rule, func(t *testing.T) {
				l := newTestLoop(t, setup{})
				c, p := pair(t, l, t0)
				switch {
				case tt.events == unix.EPOLLOUT:
					responding(c, "HTTP/1.1 200 OK\r\n", false, true)
				case strings.HasPrefix(tt.rule, "EPOLLIN on a connection that does not"):
					responding(c, "", false, true)
				}
				if tt.send != "" {
					p.send(tt.send)
				}
				if within(t, 2*time.Second, "onEvent", func() { l.onEvent(c, tt.events, t0) }) {
					tt.check(t, c, p)
				}
			})
		}
	})

	type want struct {
		status int
		body   string // "" matches any body
		header string // "Name: value" that must be in the response, if set
	}
	chunked := "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5;ext=1\r\nHello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
	exchanges := []struct {
		rule   string
		send   string
		want   []want
		closes bool // the server closes the connection after the responses
	}{
		{"hello", get("/hello"), []want{{200, "Hello, World!\n", "Content-Length: 14"}}, false},
		{"keep-alive: requests one after the other on one connection", get("/hello") + get("/counter") + get("/hello"),
			[]want{{200, "Hello, World!\n", ""}, {200, "", ""}, {200, "Hello, World!\n", ""}}, false},
		{"pipelined requests are answered in order", get("/sleep?ms=100") + get("/hello") + post("/echo", "first") + chunked,
			[]want{{200, "slept 100 ms\n", ""}, {200, "Hello, World!\n", ""}, {200, "first", ""}, {200, "Hello, world", ""}}, false},
		{"HEAD", "HEAD /hello HTTP/1.1\r\nHost: test\r\n\r\n" + get("/hello"),
			[]want{{200, "", "Content-Length: 14"}, {200, "Hello, World!\n", ""}}, false},
		{"a streamed body", get("/stream?chunks=3&bytes=4"), []want{{200, "abcdefghijkl", "Transfer-Encoding: chunked"}}, false},
		{"100-continue", "POST /echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
			[]want{{100, "", ""}, {200, "hi", ""}}, false},
		{"an unknown expectation: 417", "POST /echo HTTP/1.1\r\nHost: test\r\nExpect: magic\r\nContent-Length: 2\r\n\r\nhi",
			[]want{{417, "", "Connection: close"}}, true},
		{"the app fails: 500, and the connection goes on", get("/error") + get("/hello"),
			[]want{{500, "", ""}, {200, "Hello, World!\n", ""}}, false},
		{"Connection: close", get("/hello", "Connection: close"), []want{{200, "Hello, World!\n", "Connection: close"}}, true},
		{"HTTP/1.0 closes", "GET /hello HTTP/1.0\r\n\r\n", []want{{200, "Hello, World!\n", "Connection: close"}}, true},
		{"HTTP/1.0 keep-alive", "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			[]want{{200, "Hello, World!\n", "Connection: keep-alive"}}, false},
		{"a malformed request: 400, then the close", "GET /hello HTTP/1.1\r\nHost : test\r\n\r\n", []want{{400, "", "Connection: close"}}, true},
		{"smuggling: the request after an ambiguous body is not answered",
			"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get("/hello"),
			[]want{{400, "", "Connection: close"}}, true},
		{"a body over the limit: 413", "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 2000000\r\n\r\n",
			[]want{{413, "", "Connection: close"}}, true},
	}
	silent := "" // the first exchange that got no response at all: the others would wait as long, in vain
	for _, tt := range exchanges {
		t.Run(tt.rule, func(t *testing.T) {
			if silent != "" {
				t.Skipf("skipped: %q got no response at all", silent)
			}
			_, ps := start(t, setup{}, false, 1)
			p := ps[0]
			p.send(tt.send)
			for i, w := range tt.want {
				r, err := p.tryResponse(3*time.Second, strings.HasPrefix(tt.send, "HEAD") && i == 0)
				if err != nil {
					if i == 0 {
						silent = tt.rule
					}
					t.Fatalf("sent %s; response %d of %d: %v", show(tt.send), i+1, len(tt.want), err)
				}
				if r.status != w.status || w.body != "" && r.body != w.body {
					t.Errorf("response %d: %d %s; want %d %s", i+1, r.status, show(r.body), w.status, show(w.body))
				}
				if name, value, _ := strings.Cut(w.header, ": "); w.header != "" && r.header[name] != value {
					t.Errorf("response %d: %s is %q; want %q", i+1, name, r.header[name], value)
				}
			}
			if tt.closes {
				p.expectClosed(2 * time.Second)
			} else {
				p.expectOpen(200 * time.Millisecond)
			}
		})
	}

	t.Run("a request sent a byte at a time", func(t *testing.T) {
		_, ps := start(t, setup{}, false, 1)
		p := ps[0]
		req := get("/hello") + "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
		for i := range len(req) {
			p.send(req[i : i+1])
			time.Sleep(time.Millisecond)
		}
		if r := p.response(); r.body != "Hello, World!\n" {
			t.Errorf("GET /hello sent a byte at a time got %s", show(r.body))
		}
		if r := p.response(); r.body != "abc" {
			t.Errorf("POST /echo sent a byte at a time got %s; want %q", show(r.body), "abc")
		}
	})

	t.Run("a streamed body goes out chunk by chunk, as the app makes it", func(t *testing.T) {
		_, ps := start(t, setup{}, false, 1)
		p := ps[0]
		p.send(get("/stream?chunks=3&bytes=4&ms=200"))
		p.f.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := p.br.ReadString('\n'); err != nil {
			t.Fatalf("reading the status line: %v", err)
		}
		first := time.Now()
		r, err := readRest(p.br, response{status: 200, header: map[string]string{}}, false)
		if err != nil || r.body != "abcdefghijkl" {
			t.Fatalf("GET /stream: %s, %v; want %q", show(r.body), err, "abcdefghijkl")
		}
		if took := time.Since(first); took < 300*time.Millisecond {
			t.Errorf("the rest of the response came %v after its status line; want the chunks as the app makes them, 200 ms apart: the status line came with the last chunk", took.Round(time.Millisecond))
		}
	})

	t.Run("a client that does not read: its app waits, bounded, and the others are served at once (backpressure)", func(t *testing.T) {
		var pulled chunkCounter
		_, ps := start(t, setup{app: pulled.app(64 << 10)}, false, 2)
		slow, other := ps[0], ps[1]
		slow.send(get("/endless"))
		before := pulled.waitStable(t)
		for range 5 {
			began := time.Now()
			other.send(get("/hello"))
			if r := other.response(); r.status != 200 {
				t.Fatalf("GET /hello on another connection got %d", r.status)
			}
			if took := time.Since(began); took > 500*time.Millisecond {
				t.Errorf("GET /hello on another connection took %v while a client did not read: the loop waited for it", took.Round(time.Millisecond))
			}
		}
		if after := pulled.bytes(); after != before || after > 4<<20 {
			t.Errorf("the app made %d bytes for a client that reads nothing (%d when it stabilized); want the worker to wait once maxOut bytes wait: write tells the reply what is unsent", after, before)
		}
	})

	t.Run("a client that goes away mid-response: the worker stops, and the app's body is closed", func(t *testing.T) {
		_, ps := start(t, setup{}, false, 2)
		p, other := ps[0], ps[1]
		p.send(get("/big?bytes=1000000000"))
		p.f.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := p.br.Peek(1000); err != nil {
			t.Fatalf("reading the start of GET /big: %v", err)
		}
		p.f.Close()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			other.send(get("/stats"))
			r := other.response()
			if strings.Contains(r.body, `"inflight":0`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the app's body was not closed 5s after the client went away: %s", r.body)
			}
		}
	})

	t.Run("20 requests that sleep 300 ms, on 8 workers, run side by side", func(t *testing.T) {
		const n, ms = 20, 300
		srv, _ := start(t, setup{pool: poolOf(8, 64)}, true, 0)
		ps := make([]*peer, n)
		for i := range ps {
			ps[i] = dial(t, srv.addr)
		}
		began := time.Now()
		for _, p := range ps {
			p.send(get(fmt.Sprintf("/sleep?ms=%d", ms)))
		}
		for _, p := range ps {
			if r := p.response(); r.body != fmt.Sprintf("slept %d ms\n", ms) {
				t.Fatalf("GET /sleep got %d %s", r.status, show(r.body))
			}
		}
		if took := time.Since(began); took > n*ms*time.Millisecond/2 {
			t.Errorf("%d requests of %d ms on 8 workers took %v: they ran one after the other", n, ms, took.Round(time.Millisecond))
		}
	})

	t.Run("2,000 idle keep-alive connections cost under 1 KiB of heap each, and a new one is served at once", func(t *testing.T) {
		var lim unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
		n := min(2000, int(lim.Cur)/2-100) // a client and a server descriptor each, in this one process
		if n < 200 {
			t.Skipf("the limit on open files (ulimit -n) is %d: too low to measure", lim.Cur)
		}
		srv, _ := start(t, setup{}, true, 0)
		var fds []int // bare descriptors, which add next to nothing to the heap measured
		t.Cleanup(func() {
			for _, fd := range fds {
				unix.Close(fd)
			}
		})
		exchange := func() {
			fd, err := rawExchange(srv.addr, get("/hello"))
			if err != nil {
				t.Fatalf("connection %d: %v", len(fds)+1, err)
			}
			fds = append(fds, fd)
		}
		exchange() // the first request allocates what every request shares
		before := heapInUse()
		for len(fds) < n {
			exchange()
		}
		per := float64(heapInUse()-before) / float64(n-1)
		if per > 1024 {
			t.Errorf("%d idle keep-alive connections took %.0f bytes of Go heap each; want under 1 KiB: an idle connection keeps no buffer", n, per)
		}
		if threads := procStatus(t, "Threads"); threads > 40 {
			t.Errorf("the process runs %d threads with %d connections open: one loop thread and a small pool should need far fewer", threads, n)
		}
		began := time.Now()
		exchange()
		if took := time.Since(began); took > time.Second {
			t.Errorf("a new connection waited %v for its answer with %d connections open", took.Round(time.Millisecond), n)
		}
	})
}

// chunkCounter is an app that serves /hello and /endless, a body of chunks without end, and counts the bytes
// the server pulled from it.
type chunkCounter struct{ n atomic.Int64 }

func (cc *chunkCounter) bytes() int64 { return cc.n.Load() }

func (cc *chunkCounter) app(chunk int) gateway.App {
	data := []byte(strings.Repeat("x", chunk))
	return func(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
		start("200 OK", []gateway.Header{{Name: "Content-Type", Value: "text/plain"}})
		if env.Get("PATH_INFO") == "/hello" {
			return gateway.Bytes([]byte("Hello, World!\n")), nil
		}
		return gateway.Func(func() ([]byte, error) {
			cc.n.Add(int64(len(data)))
			return data, nil
		}, nil), nil
	}
}

// waitStable waits until the server has stopped pulling bytes for 200 ms (up to 5 s), and returns the count.
func (cc *chunkCounter) waitStable(t *testing.T) int64 {
	t.Helper()
	last := cc.bytes()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		n := cc.bytes()
		if n == last && n > 0 {
			return n
		}
		last = n
	}
	t.Fatalf("the server was still pulling the body after 5s (%d bytes): no backpressure", last)
	return 0
}

// procStatus returns a numeric field of /proc/self/status ("Threads", or "VmRSS" in KiB).
func procStatus(t *testing.T, field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// rawExchange connects a socket to addr, sends req, and reads until the end of a /hello response, within 5 s.
// It returns the descriptor, still open: a client that keeps its connection.
func rawExchange(addr, req string) (int, error) {
	fd, err := dialFD(addr)
	if err != nil {
		return -1, err
	}
	unix.SetNonblock(fd, false) // blocking, with timeouts, for the exchange
	tv := unix.Timeval{Sec: 5}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	_, err = unix.Write(fd, []byte(req))
	for errors.Is(err, unix.EINTR) {
		_, err = unix.Write(fd, []byte(req))
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("write: %w", err)
	}
	var got []byte
	buf := make([]byte, 512)
	for !bytes.HasSuffix(got, []byte("Hello, World!\n")) {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			unix.Close(fd)
			return -1, fmt.Errorf("read: %v after %q", err, got)
		}
		got = append(got, buf[:n]...)
	}
	return fd, nil
}
