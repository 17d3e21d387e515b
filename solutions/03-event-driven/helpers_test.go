package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"course/chapters/app"
	"course/chapters/gateway"
	"course/chapters/launch"
)

// The tests drive the loop through sockets made with x/sys/unix too, as the server does without package net:
// a socketpair per client when the listener is not under test, TCP on 127.0.0.1 when it is.

// testConfig returns the configuration of a server under test: deadlines long enough not to fire on a busy
// machine unless a test waits for them.
func testConfig() *launch.Config {
	return &launch.Config{
		Addr:          "127.0.0.1:0",
		HeaderTimeout: 3 * time.Second,
		IdleTimeout:   3 * time.Second,
		BodyTimeout:   3 * time.Second,
		WriteTimeout:  3 * time.Second,
		MaxBody:       1 << 20,
	}
}

// server is a loop running in the test.
type server struct {
	l    *loop
	done chan error
}

// options of a server under test; the zero value means testConfig, the test app, poolConfig(4, 16), no
// listener.
type options struct {
	cfg     *launch.Config
	pool    launch.PoolConfig
	app     gateway.App
	listen  bool // listen on 127.0.0.1, port chosen by the kernel
	clients int  // connections made with socketpair before the loop starts
}

// start starts a loop and returns it with the clients of its socketpairs. The loop is stopped, and must have
// stopped, when the test ends.
func start(t *testing.T, o options) (*server, []*client) {
	t.Helper()
	if o.cfg == nil {
		o.cfg = testConfig()
	}
	if o.pool.Workers == 0 {
		o.pool = poolConfig(4, 16)
	}
	if o.app == nil {
		o.app = app.New(app.Options{})
	}
	l, err := newLoop(o.cfg, o.pool, o.app)
	require.NoError(t, err)
	if o.listen {
		require.NoError(t, l.listen(o.cfg.Addr))
	}
	var clients []*client
	for range o.clients {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err)
		require.NoError(t, l.add(fds[0], time.Now()))
		clients = append(clients, newClient(t, fds[1]))
	}
	s := &server{l: l, done: make(chan error, 1)}
	go func() { s.done <- l.run() }()
	t.Cleanup(func() {
		l.requestStop()
		select {
		case err := <-s.done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Errorf("the loop did not stop within 10s of being told to")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		l.pool.Close(ctx)
	})
	return s, clients
}

// addr returns the address the server listens on.
func (s *server) addr() string { return "127.0.0.1:" + s.l.gw.Port }

// client is one connection to the server under test.
type client struct {
	t  *testing.T
	fd int // the descriptor, for shutdown; f owns it
	f  *os.File
	br *bufio.Reader
}

// newClient wraps the non-blocking socket fd. Being non-blocking, it gets a pollable os.File, with deadlines.
func newClient(t *testing.T, fd int) *client {
	f := os.NewFile(uintptr(fd), "client")
	t.Cleanup(func() { f.Close() })
	return &client{t: t, fd: fd, f: f, br: bufio.NewReader(f)}
}

// dial connects to the TCP address addr ("127.0.0.1:port").
func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := tryDial(t, addr)
	require.NoError(t, err)
	return c
}

func tryDial(t *testing.T, addr string) (*client, error) {
	sa, domain, err := sockaddr(addr)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := connect(fd, sa); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return newClient(t, fd), nil
}

// connect connects the non-blocking socket fd to sa, waiting up to 5s.
func connect(fd int, sa unix.Sockaddr) error {
	err := unix.Connect(fd, sa)
	if !errors.Is(err, unix.EINPROGRESS) {
		return err
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	n, err := unix.Poll(pfd, 5000)
	for errors.Is(err, unix.EINTR) { // a signal of Go's runtime, not a failure
		n, err = unix.Poll(pfd, 5000)
	}
	if err != nil || n == 0 {
		return fmt.Errorf("connect: not connected after 5s (%v)", err)
	}
	if soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || soerr != 0 {
		return fmt.Errorf("connect: %v", errors.Join(err, unix.Errno(soerr)))
	}
	return nil
}

func (c *client) send(s string) {
	c.t.Helper()
	require.NoError(c.t, c.trySend(s))
}

func (c *client) trySend(s string) error {
	c.f.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := io.WriteString(c.f, s)
	return err
}

// shutdownWrite shuts down the sending side of c: the server reads the end of the stream.
func shutdownWrite(c *client) error {
	return unix.Shutdown(c.fd, unix.SHUT_WR)
}

// response is what the server answered.
type response struct {
	Status int
	Header map[string]string // names in canonical case, as "Content-Length"
	Body   string
}

// response reads one response within 5s.
func (c *client) response() response {
	c.t.Helper()
	r, err := c.tryResponse(5*time.Second, false)
	require.NoError(c.t, err)
	return r
}

// headResponse reads the response to a HEAD request, which has no body whatever its headers say.
func (c *client) headResponse() response {
	c.t.Helper()
	r, err := c.tryResponse(5*time.Second, true)
	require.NoError(c.t, err)
	return r
}

// tryResponse reads one response, framed by Content-Length, chunked, or the close; head says it answers HEAD.
func (c *client) tryResponse(within time.Duration, head bool) (response, error) {
	c.f.SetReadDeadline(time.Now().Add(within))
	var r response
	line, err := c.br.ReadString('\n')
	if err != nil {
		return r, fmt.Errorf("reading the status line: %w (got %q)", err, line)
	}
	parts := strings.SplitN(strings.TrimRight(line, "\r\n"), " ", 3)
	if len(parts) < 2 || !strings.HasPrefix(parts[0], "HTTP/1.") {
		return r, fmt.Errorf("bad status line %q", line)
	}
	if r.Status, err = strconv.Atoi(parts[1]); err != nil {
		return r, fmt.Errorf("bad status line %q", line)
	}
	return c.readRest(r, head)
}

// readRest reads the headers and the body of a response whose status line was read.
func (c *client) readRest(r response, head bool) (response, error) {
	r.Header = map[string]string{}
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return r, fmt.Errorf("reading the headers: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		name, value, _ := strings.Cut(line, ":")
		r.Header[canonical(name)] = strings.TrimSpace(value)
	}
	var body []byte
	switch {
	case head || r.Status == 100 || r.Status == 204 || r.Status == 304:
	case r.Header["Transfer-Encoding"] == "chunked":
		for {
			line, err := c.br.ReadString('\n')
			if err != nil {
				return r, fmt.Errorf("reading a chunk size: %w", err)
			}
			n, err := strconv.ParseInt(strings.TrimRight(line, "\r\n"), 16, 64)
			if err != nil {
				return r, fmt.Errorf("bad chunk size %q", line)
			}
			chunk := make([]byte, n+2)
			if _, err := io.ReadFull(c.br, chunk); err != nil {
				return r, fmt.Errorf("reading a chunk: %w", err)
			}
			if n == 0 {
				break
			}
			body = append(body, chunk[:n]...)
		}
	case r.Header["Content-Length"] != "":
		n, err := strconv.Atoi(r.Header["Content-Length"])
		if err != nil {
			return r, fmt.Errorf("bad Content-Length %q", r.Header["Content-Length"])
		}
		body = make([]byte, n)
		if _, err := io.ReadFull(c.br, body); err != nil {
			return r, fmt.Errorf("reading the body: %w", err)
		}
	default:
		var err error
		if body, err = io.ReadAll(c.br); err != nil {
			return r, fmt.Errorf("reading the body up to the close: %w", err)
		}
	}
	r.Body = string(body)
	return r, nil
}

// canonical returns a header name in canonical case: "content-length" is "Content-Length".
func canonical(name string) string {
	words := strings.Split(strings.ToLower(strings.TrimSpace(name)), "-")
	for i, w := range words {
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, "-")
}

// expectClosed checks that the server closes the connection within d, with nothing more sent.
func (c *client) expectClosed(d time.Duration) {
	c.t.Helper()
	c.f.SetReadDeadline(time.Now().Add(d))
	b, err := c.br.ReadByte()
	if err == nil {
		rest, _ := c.br.Peek(c.br.Buffered())
		c.t.Fatalf("expected the close, got more bytes: %q", append([]byte{b}, rest...))
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("the connection was still open after %v", d)
	}
	// io.EOF, or a reset: closed either way.
}

// expectOpen checks that the server neither sends anything nor closes the connection for d.
func (c *client) expectOpen(d time.Duration) {
	c.t.Helper()
	c.f.SetReadDeadline(time.Now().Add(d))
	_, err := c.br.ReadByte()
	require.ErrorIs(c.t, err, os.ErrDeadlineExceeded, "the connection should have stayed open and quiet")
}

// drainUntilClosed reads and drops what comes until the server closes the connection, within d.
func (c *client) drainUntilClosed(d time.Duration) {
	c.t.Helper()
	c.f.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c.br)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("the connection was still open after %v", d)
	}
}

// poolConfig returns the configuration of a pool of workers and queue, with the default timeouts of the
// command line but a shutdown timeout that a test can afford.
func poolConfig(workers, queue int) launch.PoolConfig {
	return poolWith(workers, queue, 5*time.Second, 30*time.Second)
}

func poolWith(workers, queue int, queueTimeout, requestTimeout time.Duration) launch.PoolConfig {
	return launch.PoolConfig{
		Workers:         workers,
		Queue:           queue,
		QueueTimeout:    queueTimeout,
		RequestTimeout:  requestTimeout,
		ShutdownTimeout: 3 * time.Second,
	}
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

// get returns a GET request for target.
func get(target string, headers ...string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + strings.Join(append(headers, ""), "\r\n") + "\r\n"
}
