package main

// The step tests check each step of the chapter on its own, before the grader judges the whole server: one
// file per step, one table of cases per test, each case named for the rule it checks. Run them with make, from
// the repository's root:
//
//	make check CHAPTER=3 STEP=3   # the tests of step 3
//	make check CHAPTER=3          # every step in order, up to the first that fails
//
// or with go test -run 'TestStep3' ./chapters/03-event-driven (add -v to see every case).
//
// Steps 1 to 6 call the loop's functions themselves, as run will, on a loop that is not running: the test is
// the loop's thread, and passes the time (now) of its choice, so that deadlines are checked without waiting
// for them. Its clients are socketpairs, the two ends of a connection in one process. From step 7 on, the loop
// runs, and the tests are its clients.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"course/chapters/app"
	"course/chapters/gateway"
	"course/chapters/launch"
	"course/chapters/steptest"
)

// t0 is the time at which a test that keeps its own clock starts.
var t0 = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

// config returns the configuration of a server under test: deadlines that no test reaches unless it means
// to, each different, so that a test can tell which one was set.
func config() *launch.Config {
	return &launch.Config{
		Addr:          "127.0.0.1:0",
		HeaderTimeout: 4 * time.Second,
		BodyTimeout:   5 * time.Second,
		WriteTimeout:  6 * time.Second,
		IdleTimeout:   7 * time.Second,
		MaxBody:       1 << 20,
	}
}

// poolOf returns the configuration of a pool of workers and queue, with the command line's default timeouts
// and a shutdown timeout that a test can afford.
func poolOf(workers, queue int) launch.PoolConfig {
	return launch.PoolConfig{
		Workers:         workers,
		Queue:           queue,
		QueueTimeout:    5 * time.Second,
		RequestTimeout:  30 * time.Second,
		ShutdownTimeout: 3 * time.Second,
	}
}

// setup describes a loop under test; its zero value means config(), poolOf(4, 16) and the course's app.
type setup struct {
	cfg  *launch.Config
	pool launch.PoolConfig
	app  gateway.App
}

// newTestLoop makes a loop that does not run: the test calls its functions. Everything it opened is closed
// when the test ends.
func newTestLoop(t *testing.T, s setup) *loop {
	t.Helper()
	l := build(t, s)
	t.Cleanup(func() {
		l.shutdown()
		closePool(l)
	})
	return l
}

// build makes a loop as s describes it.
func build(t *testing.T, s setup) *loop {
	t.Helper()
	if s.cfg == nil {
		s.cfg = config()
	}
	if s.pool.Workers == 0 {
		s.pool = poolOf(4, 16)
	}
	if s.app == nil {
		s.app = app.New(app.Options{})
	}
	l, err := newLoop(s.cfg, s.pool, s.app)
	if err != nil {
		t.Fatalf("newLoop: %v", err)
	}
	return l
}

// closePool closes the pool of l, giving its workers 2 s to finish.
func closePool(l *loop) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	l.pool.Close(ctx)
}

// server is a loop that runs (step 7), in a goroutine of the test.
type server struct {
	l    *loop
	addr string     // where it listens, if it does
	done chan error // gets what run returned
}

// start starts a loop as s describes it, listening on 127.0.0.1 if listen is true, and serving clients
// socketpairs, whose client ends it returns. The loop is told to stop when the test ends, and must stop.
func start(t *testing.T, s setup, listen bool, clients int) (*server, []*peer) {
	t.Helper()
	l := build(t, s)
	srv := &server{l: l, done: make(chan error, 1)}
	if listen {
		srv.addr = listening(t, l)
	}
	var ps []*peer
	for range clients {
		_, p := pair(t, l, time.Now())
		ps = append(ps, p)
	}
	go func() { srv.done <- l.run() }()
	t.Cleanup(func() {
		defer closePool(l)
		for _, p := range ps {
			p.f.Close() // the loop closes these connections: it stops with none open, whatever its deadlines
		}
		l.requestStop()
		select {
		case <-srv.done:
		case <-time.After(10 * time.Second):
			t.Errorf("the loop did not stop within 10s of being told to, with its clients gone (run, step 7; beginStop, step 9)")
		}
	})
	select {
	case err := <-srv.done:
		srv.done <- err
		t.Fatalf("run returned at once: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	return srv, ps
}

// listening makes l listen on 127.0.0.1 with its listen (step 1), and returns the address.
func listening(t *testing.T, l *loop) string {
	t.Helper()
	if err := l.listen("127.0.0.1:0"); err != nil {
		t.Fatalf("listen (step 1): %v", err)
	}
	return "127.0.0.1:" + l.gw.Port
}

// within calls f and waits at most d for it to return, and fails the test if it does not, or panics.
func within(t *testing.T, d time.Duration, what string, f func()) bool {
	t.Helper()
	return steptest.WithinHint(t, d, what, "the loop's functions never wait (is a socket blocking, or a loop endless?)", f)
}

// peer is the client end of a connection.
type peer struct {
	t   *testing.T
	fd  int // f's descriptor, for shutdown and socket options
	f   *os.File
	br  *bufio.Reader
	got []byte // what received has read
}

// newPeer wraps the non-blocking socket fd. Being non-blocking, it gets an os.File with deadlines.
func newPeer(t *testing.T, fd int) *peer {
	f := os.NewFile(uintptr(fd), "client")
	t.Cleanup(func() { f.Close() })
	return &peer{t: t, fd: fd, f: f, br: bufio.NewReader(f)}
}

// pair makes a connection of two sockets, serves one end with add (step 2), and returns its conn and the
// other end.
func pair(t *testing.T, l *loop, now time.Time) (*conn, *peer) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.add(fds[0], now); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		t.Fatalf("add (step 2): %v", err)
	}
	if fds[0] >= len(l.conns) || l.conns[fds[0]] == nil {
		t.Fatalf("add (step 2) did not keep the connection in l.conns[%d]", fds[0])
	}
	return l.conns[fds[0]], newPeer(t, fds[1])
}

// dial connects to addr ("127.0.0.1:port") over TCP, and returns the connected client. The kernel completes
// the connection whether or not the server has accepted it.
func dial(t *testing.T, addr string) *peer {
	t.Helper()
	fd, err := dialFD(addr)
	if err != nil {
		t.Fatalf("connecting to %s: %v", addr, err)
	}
	return newPeer(t, fd)
}

// dialFD connects a non-blocking socket to addr, waiting up to 5 s, and returns it.
func dialFD(addr string) (int, error) {
	sa, domain, err := sockaddr(addr)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	err = unix.Connect(fd, sa)
	if errors.Is(err, unix.EINPROGRESS) {
		err = awaitConnect(fd)
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// awaitConnect waits until the connection of fd is made, up to 5 s.
func awaitConnect(fd int) error {
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

// send writes s to the server.
func (p *peer) send(s string) {
	p.t.Helper()
	p.f.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(p.f, s); err != nil {
		p.t.Fatalf("sending %s: %v", show(s), err)
	}
}

// shutdownWrite shuts down the sending side of p: the server reads the end of the stream.
func (p *peer) shutdownWrite() {
	p.t.Helper()
	if err := unix.Shutdown(p.fd, unix.SHUT_WR); err != nil {
		p.t.Fatal(err)
	}
}

// received reads what has arrived from the server, without waiting for more, adds it to p.got and returns
// all of p.got.
func (p *peer) received() string {
	p.f.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	b, _ := io.ReadAll(p.br) // stops at the deadline, or the server's close
	p.got = append(p.got, b...)
	return string(p.got)
}

// said returns what the server has said on the connection of c, whose other end is p: the bytes p has received,
// then those the server still has to write. Whether write (step 6) is written yet or not, it is the
// connection's output so far.
func said(c *conn, p *peer) string {
	return p.received() + string(c.out[c.sent:])
}

// response is what the server answered.
type response struct {
	status int
	header map[string]string // names in canonical case, as "Content-Length"
	body   string
}

// responses parses the complete responses at the start of raw. head says that the first answers a HEAD
// request, which has no body whatever its headers say.
func responses(raw string, head bool) ([]response, error) {
	br := bufio.NewReader(strings.NewReader(raw))
	var rs []response
	for {
		if _, err := br.Peek(1); err != nil {
			return rs, nil
		}
		r, err := readResponse(br, head && len(rs) == 0)
		if err != nil {
			return rs, fmt.Errorf("response %d: %w", len(rs)+1, err)
		}
		rs = append(rs, r)
	}
}

// firstResponse parses the first response of raw, failing the test if there is none.
func firstResponse(t *testing.T, raw string) response {
	t.Helper()
	rs, err := responses(raw, false)
	if len(rs) == 0 {
		t.Fatalf("no whole response in %s: %v", show(raw), err)
	}
	return rs[0]
}

// readResponse reads one response from br: framed by Content-Length, chunked, or the end of the stream.
func readResponse(br *bufio.Reader, head bool) (response, error) {
	r := response{header: map[string]string{}}
	line, err := br.ReadString('\n')
	if err != nil {
		return r, fmt.Errorf("reading the status line: %w (got %q)", err, line)
	}
	parts := strings.SplitN(strings.TrimRight(line, "\r\n"), " ", 3)
	if len(parts) < 2 || !strings.HasPrefix(parts[0], "HTTP/1.") {
		return r, fmt.Errorf("bad status line %q", line)
	}
	if r.status, err = strconv.Atoi(parts[1]); err != nil {
		return r, fmt.Errorf("bad status line %q", line)
	}
	return readRest(br, r, head)
}

// readRest reads the header fields and the body of a response whose status line r has.
func readRest(br *bufio.Reader, r response, head bool) (response, error) {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return r, fmt.Errorf("reading the headers: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		name, value, _ := strings.Cut(line, ":")
		r.header[canonical(name)] = strings.TrimSpace(value)
	}
	var body []byte
	switch {
	case head || r.status == 100 || r.status == 204 || r.status == 304:
	case r.header["Transfer-Encoding"] == "chunked":
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return r, fmt.Errorf("reading a chunk size: %w", err)
			}
			n, err := strconv.ParseInt(strings.TrimRight(line, "\r\n"), 16, 64)
			if err != nil {
				return r, fmt.Errorf("bad chunk size %q", line)
			}
			chunk := make([]byte, n+2)
			if _, err := io.ReadFull(br, chunk); err != nil {
				return r, fmt.Errorf("reading a chunk: %w", err)
			}
			if n == 0 {
				break
			}
			body = append(body, chunk[:n]...)
		}
	case r.header["Content-Length"] != "":
		n, err := strconv.Atoi(r.header["Content-Length"])
		if err != nil {
			return r, fmt.Errorf("bad Content-Length %q", r.header["Content-Length"])
		}
		body = make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			return r, fmt.Errorf("reading the body: %w", err)
		}
	default:
		var err error
		if body, err = io.ReadAll(br); err != nil {
			return r, fmt.Errorf("reading the body up to the close: %w", err)
		}
	}
	r.body = string(body)
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

// get returns a GET request for target, with the headers given.
func get(target string, headers ...string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + strings.Join(append(headers, ""), "\r\n") + "\r\n"
}

// post returns a POST request for target with a Content-Length body.
func post(target, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n%s", target, len(body), body)
}

// show quotes s for a failure message, shortened when it is long.
func show(s string) string {
	if len(s) > 100 {
		return fmt.Sprintf("%q... (%d bytes)", s[:100], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// drive does the loop's part of the hand-off until done reports true, at most 5 s: it takes the workers' news
// (takeReady) and gives each reply to onReply, as run does at every turn (step 7).
func drive(t *testing.T, l *loop, now time.Time, what string, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		ready, _ := l.takeReady()
		for _, r := range ready {
			l.onReply(r, now)
		}
		if done() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// watched returns the events epoll reports now for fd in the epoll set of l (0 if none), without waiting.
func watched(t *testing.T, l *loop, fd int) uint32 {
	t.Helper()
	events := make([]unix.EpollEvent, 64)
	n, err := unix.EpollWait(l.epfd, events, 0)
	for errors.Is(err, unix.EINTR) {
		n, err = unix.EpollWait(l.epfd, events, 0)
	}
	if err != nil {
		t.Fatalf("epoll_wait: %v", err)
	}
	for _, ev := range events[:n] {
		if int(ev.Fd) == fd {
			return ev.Events
		}
	}
	return 0
}

// eventNames spells a set of epoll events.
func eventNames(ev uint32) string {
	var names []string
	for _, e := range []struct {
		bit  uint32
		name string
	}{{unix.EPOLLIN, "EPOLLIN"}, {unix.EPOLLOUT, "EPOLLOUT"}, {unix.EPOLLERR, "EPOLLERR"}, {unix.EPOLLHUP, "EPOLLHUP"}} {
		if ev&e.bit != 0 {
			names = append(names, e.name)
		}
	}
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, "|")
}

// response reads the next response from the server, within 5 s.
func (p *peer) response() response {
	p.t.Helper()
	r, err := p.tryResponse(5*time.Second, false)
	if err != nil {
		p.t.Fatalf("reading a response: %v", err)
	}
	return r
}

// tryResponse reads the next response within d; head says it answers a HEAD request.
func (p *peer) tryResponse(d time.Duration, head bool) (response, error) {
	p.f.SetReadDeadline(time.Now().Add(d))
	return readResponse(p.br, head)
}

// expectClosed checks that the server closes the connection within d, with nothing more sent.
func (p *peer) expectClosed(d time.Duration) {
	p.t.Helper()
	p.f.SetReadDeadline(time.Now().Add(d))
	b, err := p.br.ReadByte()
	if err == nil {
		rest, _ := p.br.Peek(p.br.Buffered())
		p.t.Fatalf("expected the server to close the connection, got more bytes: %s", show(string(append([]byte{b}, rest...))))
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		p.t.Fatalf("the connection was still open after %v; want it closed", d)
	}
	// io.EOF, or a reset: closed either way.
}

// expectOpen checks that the server neither sends anything nor closes the connection for d.
func (p *peer) expectOpen(d time.Duration) {
	p.t.Helper()
	p.f.SetReadDeadline(time.Now().Add(d))
	b, err := p.br.ReadByte()
	switch {
	case err == nil:
		p.t.Errorf("the server sent %q, where it should have been quiet", b)
	case !errors.Is(err, os.ErrDeadlineExceeded):
		p.t.Errorf("the server closed the connection (%v), where it should have kept it open", err)
	}
}

// stateName spells a connection's state.
func stateName(s connState) string {
	names := map[connState]string{idle: "idle", head: "head", body: "body", busy: "busy", lingering: "lingering"}
	if n, ok := names[s]; ok {
		return n
	}
	return fmt.Sprintf("connState(%d)", s)
}
