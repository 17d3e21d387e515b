package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"course/chapters/app"
	"course/chapters/gateway"
	"course/chapters/scgi"
)

// group is a daemon group in the test's process: its socket, and a Server on it.
type group struct {
	sock string
	ln   net.Listener
	done chan struct{} // closed when Serve returns
}

// startGroup listens on a new socket with backlog and serves it with s until the test ends.
func startGroup(t *testing.T, s *Server, backlog int) *group {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "daemon.sock")
	f, err := Listen(sock, backlog)
	require.NoError(t, err)
	ln, err := net.FileListener(f)
	f.Close()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	g := &group{sock: sock, ln: ln, done: make(chan struct{})}
	go func() {
		defer close(g.done)
		s.Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-g.done
	})
	return g
}

// answer is a response as a client of a front end sees it.
type answer struct {
	code int
	head string
	body string
	took time.Duration
}

// front answers a request as a front end whose app is h would: through the gateway, to an HTTP/1.1 client.
func front(t *testing.T, h *Hop, method, target, body string, header ...gateway.Header) answer {
	t.Helper()
	length := int64(len(body))
	req := &gateway.Request{Method: method, Target: target, Proto: "HTTP/1.1", Major: 1, Minor: 1,
		Header: append([]gateway.Header{{Name: "Host", Value: "x"}}, header...), Body: strings.NewReader(body), ContentLength: length}
	env, err := gateway.NewEnviron(req, gateway.Server{Name: "127.0.0.1", Port: "8080"})
	require.NoError(t, err)
	var out strings.Builder
	start := time.Now()
	gateway.Respond(bufio.NewWriter(&out), req, env, h.App, true)
	raw := out.String()
	head, rest, _ := strings.Cut(raw, "\r\n\r\n")
	code, _ := strconv.Atoi(strings.Fields(head + " x x")[1])
	return answer{code: code, head: head, body: rest, took: time.Since(start)}
}

// dechunk returns the data of a chunked body.
func dechunk(t *testing.T, body string) string {
	t.Helper()
	var data strings.Builder
	for {
		size, rest, ok := strings.Cut(body, "\r\n")
		require.True(t, ok, "a chunk size line in %q", body)
		n, err := strconv.ParseInt(size, 16, 64)
		require.NoError(t, err)
		if n == 0 {
			require.Equal(t, "\r\n", rest, "the end of the body")
			return data.String()
		}
		data.WriteString(rest[:n])
		body = strings.TrimPrefix(rest[n:], "\r\n")
	}
}

func testApp(t *testing.T) gateway.App { return app.New(app.Options{Worker: "1"}) }

func TestListen(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "d.sock")
	f, err := Listen(sock, 3)
	require.NoError(t, err)
	defer f.Close()
	fi, err := os.Stat(sock)
	require.NoError(t, err)
	require.Equal(t, os.ModeSocket|0o600, fi.Mode()&(os.ModeSocket|os.ModePerm), "a socket only its owner may use")
	// Nobody accepts: the queue takes backlog+1 connections, and the next connect fails at once.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 4 {
		c, err := net.Dial("unix", sock)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	_, err = net.Dial("unix", sock)
	require.ErrorIs(t, err, syscall.EAGAIN)

	_, err = Listen(sock, 3)
	require.ErrorContains(t, err, "bind", "the path is taken")
}

func TestDial(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "d.sock")
	f, err := Listen(sock, 0)
	require.NoError(t, err)
	defer f.Close()
	first, err := Dial(sock, time.Second)
	require.NoError(t, err, "one connection fits in a queue of 0")
	defer first.Close()

	start := time.Now()
	_, err = Dial(sock, 300*time.Millisecond)
	took := time.Since(start)
	require.Equal(t, 503, gateway.StatusOf(err), "%v", err)
	require.ErrorContains(t, err, "connect timeout")
	require.GreaterOrEqual(t, took, 300*time.Millisecond, "it tries for the whole connect timeout")
	require.Less(t, took, 2*time.Second)

	ln, err := net.FileListener(f)
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		time.Sleep(200 * time.Millisecond)
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
		}
	}()
	c, err := Dial(sock, 5*time.Second)
	require.NoError(t, err, "a place in the queue frees up while it tries")
	c.Close()

	_, err = Dial(filepath.Join(t.TempDir(), "none.sock"), time.Minute)
	require.Equal(t, 503, gateway.StatusOf(err), "no socket: at once")
}

func TestStamp(t *testing.T) {
	env := &gateway.Environ{Vars: map[string]string{RequestStart: "t=1"}}
	_, ok := QueueTime(&gateway.Environ{Vars: map[string]string{}}, time.Now())
	require.False(t, ok)
	at := time.Unix(1700000000, 123456000)
	Stamp(env, at)
	require.Equal(t, "t=1700000000123456", env.Get(RequestStart), "the client's value is replaced")
	waited, ok := QueueTime(env, at.Add(1500*time.Millisecond))
	require.True(t, ok)
	require.Equal(t, 1500*time.Millisecond, waited)
	for _, bad := range []string{"1700000000", "t=", "t=-5", "t=12x"} {
		_, ok := QueueTime(&gateway.Environ{Vars: map[string]string{RequestStart: bad}}, at)
		require.False(t, ok, bad)
	}
}

func TestHop(t *testing.T) {
	g := startGroup(t, &Server{App: testApp(t), Threads: 4, Gateway: gateway.Server{MultiThread: true}}, 16)
	h := &Hop{Socket: g.sock, ConnectTimeout: time.Second, SocketTimeout: 5 * time.Second}

	a := front(t, h, "GET", "/hello", "")
	require.Equal(t, 200, a.code)
	require.Equal(t, "Hello, World!\n", a.body)
	require.Contains(t, a.head, "Content-Length: 14", "the daemon's length is passed on")

	a = front(t, h, "POST", "/echo", strings.Repeat("x", 100000), gateway.Header{Name: "Content-Type", Value: "a/b"})
	require.Equal(t, strings.Repeat("x", 100000), a.body)

	a = front(t, h, "GET", "/stream?chunks=3&bytes=2", "")
	require.Contains(t, a.head, "Transfer-Encoding: chunked", "no length from the daemon: the front end frames it")
	require.Equal(t, "abcdef", dechunk(t, a.body), "the chunks are what the daemon sent when the front end read")

	a = front(t, h, "HEAD", "/hello", "")
	require.Equal(t, 200, a.code)
	require.Empty(t, a.body)

	a = front(t, h, "GET", "/env", "", gateway.Header{Name: "X-Request-Start", Value: "t=1"})
	var env map[string]string
	require.NoError(t, json.Unmarshal([]byte(a.body), &env))
	waited, ok := QueueTime(&gateway.Environ{Vars: env}, time.Now())
	require.True(t, ok)
	require.Less(t, waited, time.Minute, "the front end's stamp, not the client's t=1")
	require.Equal(t, "true", env["wsgi.multithread"])
	require.Equal(t, "/env", env["PATH_INFO"])

	a = front(t, h, "GET", "/error", "")
	require.Equal(t, 500, a.code)
}

// TestHopStreams checks that a chunk the app makes reaches the client then, not with the last one.
func TestHopStreams(t *testing.T) {
	g := startGroup(t, &Server{App: testApp(t), Threads: 1}, 16)
	h := &Hop{Socket: g.sock, ConnectTimeout: time.Second}
	req := &gateway.Request{Method: "GET", Target: "/stream?chunks=2&bytes=3&ms=400", Proto: "HTTP/1.1", Major: 1, Minor: 1,
		Body: strings.NewReader("")}
	env, err := gateway.NewEnviron(req, gateway.Server{})
	require.NoError(t, err)
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriter(pw)
		gateway.Respond(bw, req, env, h.App, true)
		pw.Close()
	}()
	br := bufio.NewReader(pr)
	start := time.Now()
	for {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		if line == "abc\r\n" {
			break
		}
	}
	require.Less(t, time.Since(start), 300*time.Millisecond, "the first chunk came with the second")
	rest, _ := io.ReadAll(br)
	require.Contains(t, string(rest), "def")
}

// TestQueueTimeout checks that a request that waited past the queue timeout is answered 504, and the app
// does not run: its counter does not move.
func TestQueueTimeout(t *testing.T) {
	g := startGroup(t, &Server{App: testApp(t), Threads: 1, QueueTimeout: 200 * time.Millisecond}, 16)
	h := &Hop{Socket: g.sock, ConnectTimeout: time.Second}
	var wg sync.WaitGroup
	wg.Go(func() { front(t, h, "GET", "/sleep?ms=600", "") })
	time.Sleep(100 * time.Millisecond)
	a := front(t, h, "GET", "/counter", "")
	require.Equal(t, 504, a.code, "waited 500 ms behind the sleep, more than 200 ms")
	require.Contains(t, a.body, "queue timeout")
	wg.Wait()
	require.Equal(t, "1\n", front(t, h, "GET", "/counter", "").body, "the request that timed out did not run the app")
}

// TestRequestTimeout checks that a request past the request timeout is answered 504 at the timeout, and that
// Serve returns, once the other request in flight has finished.
func TestRequestTimeout(t *testing.T) {
	g := startGroup(t, &Server{App: testApp(t), Threads: 2, RequestTimeout: 300 * time.Millisecond, ShutdownTimeout: 5 * time.Second}, 16)
	h := &Hop{Socket: g.sock, ConnectTimeout: time.Second}
	var sibling answer
	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(100 * time.Millisecond)
		sibling = front(t, h, "GET", "/sleep?ms=250", "")
	})
	a := front(t, h, "GET", "/sleep?ms=60000", "")
	require.Equal(t, 504, a.code)
	require.Less(t, a.took, 3*time.Second)
	wg.Wait()
	require.Equal(t, "slept 250 ms\n", sibling.body, "the other request finishes")
	select {
	case <-g.done:
	case <-time.After(3 * time.Second):
		t.Fatal("Serve did not return after a request timeout: the daemon must restart")
	}
}

func TestMaxRequests(t *testing.T) {
	g := startGroup(t, &Server{App: testApp(t), Threads: 2, MaxRequests: 3}, 16)
	h := &Hop{Socket: g.sock, ConnectTimeout: time.Second}
	for range 3 {
		require.Equal(t, 200, front(t, h, "GET", "/hello", "").code)
	}
	select {
	case <-g.done:
	case <-time.After(3 * time.Second):
		t.Fatal("Serve did not return after -maximum-requests")
	}
}

// TestHopFailures checks the statuses of a daemon that fails: 502 for one that closes without answering or
// answers nonsense, 504 for one that stops talking.
func TestHopFailures(t *testing.T) {
	for _, tt := range []struct {
		name  string
		serve func(c net.Conn)
		code  int
	}{
		{"closes without answering", func(c net.Conn) { scgi.ReadRequest(bufio.NewReader(c), scgi.DefaultLimits) }, 502},
		{"answers nonsense", func(c net.Conn) { io.WriteString(c, "hello\r\n\r\n") }, 502},
		{"stops talking", func(c net.Conn) { time.Sleep(time.Second) }, 504},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "d.sock")
			ln, err := net.Listen("unix", sock)
			require.NoError(t, err)
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				tt.serve(c)
			}()
			h := &Hop{Socket: sock, ConnectTimeout: time.Second, SocketTimeout: 200 * time.Millisecond}
			req := &gateway.Request{Method: "GET", Target: "/hello", Proto: "HTTP/1.1", Major: 1, Minor: 1, Body: strings.NewReader("")}
			env, err := gateway.NewEnviron(req, gateway.Server{})
			require.NoError(t, err)
			_, err = h.App(env, func(string, []gateway.Header) error { return errors.New("not called") })
			require.Equal(t, tt.code, gateway.StatusOf(err), "%v", err)
		})
	}
}
