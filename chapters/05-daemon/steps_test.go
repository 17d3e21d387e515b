package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"course/chapters/app"
	"course/chapters/daemon"
	"course/chapters/gateway"
	"course/chapters/launch"
	"course/chapters/steptest"
	"course/harness"
)

// What the tests of the chapter's steps share (README, "What you will build"). Run them a step at a time:
//
//	make check CHAPTER=5 STEP=3      # or: go test -run '^TestStep3' ./chapters/05-daemon
//
// The front end's steps (1 to 3, and its part of 6 and 7) talk to daemons of the course's reference (package
// daemon), the daemon's steps (5 to 7) to a front end of the reference: each side is tested on its own. The
// tests named Real start this chapter's program, front end and daemons, as the grader does.

// wait bounds how long a test waits for an answer: generous, for a loaded machine.
const wait = 5 * time.Second

// socketPath returns the path of a socket in a folder of the test's own.
func socketPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "daemon.sock")
}

// answer is a response as the client of a front end gets it.
type answer struct {
	code int
	head string // the status line and header fields
	body string // as sent: chunked when it is
}

// viaFront answers a request the way the front end does, with the gateway and app as its application, and
// returns what an HTTP/1.1 client would get.
func viaFront(t *testing.T, app gateway.App, method, target, body string, header ...gateway.Header) answer {
	t.Helper()
	req := &gateway.Request{Method: method, Target: target, Proto: "HTTP/1.1", Major: 1, Minor: 1,
		Header: append([]gateway.Header{{Name: "Host", Value: "127.0.0.1:8080"}}, header...),
		Body:   strings.NewReader(body), ContentLength: int64(len(body))}
	env, err := gateway.NewEnviron(req, gateway.Server{Name: "127.0.0.1", Port: "8080"})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	gateway.Respond(bufio.NewWriter(&out), req, env, app, true)
	head, rest, _ := strings.Cut(out.String(), "\r\n\r\n")
	code, _ := strconv.Atoi(strings.Fields(head + " x x")[1])
	return answer{code: code, head: head, body: rest}
}

// group is a group of one daemon in the test's process, on a socket of its own.
type group struct {
	sock string
	done chan error // Serve's return
	stop context.CancelFunc
}

// referenceGroup runs the reference daemon (package daemon) with app on a new socket, for the front end's
// steps.
func referenceGroup(t *testing.T, s *daemon.Server) *group {
	t.Helper()
	return serveGroup(t, func(ctx context.Context, ln net.Listener) error { return s.Serve(ctx, ln) })
}

// yourGroup runs your daemon (newDaemonProcess, serve) with dc and the test app on a new socket, and checks
// that it calls ready once.
func yourGroup(t *testing.T, dc launch.DaemonConfig) *group {
	t.Helper()
	if dc.ShutdownTimeout == 0 {
		dc.ShutdownTimeout = wait
	}
	d := newDaemonProcess(&dc, app.New(app.Options{Worker: "1"}))
	var readies int
	var mu sync.Mutex
	g := serveGroup(t, func(ctx context.Context, ln net.Listener) error {
		return d.serve(ctx, ln, func() error {
			mu.Lock()
			defer mu.Unlock()
			readies++
			return nil
		})
	})
	g.serving(t)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if readies != 1 && !t.Failed() {
			t.Errorf("serve called ready %d times, want once: the master counts on one 'R'", readies)
		}
	})
	return g
}

// serving fails the test if serve returned at once: every request would wait in the queue.
func (g *group) serving(t *testing.T) {
	t.Helper()
	select {
	case err := <-g.done:
		g.done <- err
		t.Fatalf("serve returned at once: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
}

// serveGroup listens on a new socket and runs serve on it until the test ends.
func serveGroup(t *testing.T, serve func(ctx context.Context, ln net.Listener) error) *group {
	t.Helper()
	sock := socketPath(t)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &group{sock: sock, done: make(chan error, 1), stop: cancel}
	go func() { g.done <- serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-g.done:
		case <-time.After(2 * wait):
			t.Errorf("serve did not return %v after its context was cancelled", 2*wait)
		}
		ln.Close()
	})
	return g
}

// reference is a front end of the reference (package daemon) before the group g.
func (g *group) reference() gateway.App {
	return (&daemon.Hop{Socket: g.sock, ConnectTimeout: wait, SocketTimeout: wait}).App
}

// stats reads the gauge of the app behind g.
func (g *group) stats(t *testing.T) map[string]int64 {
	t.Helper()
	a := viaFront(t, g.reference(), "GET", "/stats", "")
	var s map[string]int64
	if err := json.Unmarshal([]byte(a.body), &s); err != nil {
		t.Fatalf("GET /stats: %d %q", a.code, a.body)
	}
	return s
}

// program builds this chapter's program, once for all the tests, and returns its path.
func program(t *testing.T) string { return steptest.Program(t) }

// startFront starts this chapter's program as a front end on a free port, with flags, and stops it when the
// test ends.
func startFront(t *testing.T, flags ...string) *harness.Server {
	t.Helper()
	return steptest.Start(t, "the front end", wait, flags...)
}

// get sends GET target to srv on a connection of its own and returns the response.
func get(t *testing.T, srv *harness.Server, target string) *harness.Response {
	t.Helper()
	c, err := harness.Dial(srv.Addr(), wait)
	if err != nil {
		t.Fatalf("connecting to %s: %v", srv.Addr(), err)
	}
	defer c.Close()
	if err := c.Send(harness.Request("GET", target, "Connection: close")); err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	r, err := c.ReadResponse(3*wait, false)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	return r
}

// pidOf asks srv for /pid and returns the pid that answered.
func pidOf(t *testing.T, srv *harness.Server) int {
	t.Helper()
	r := get(t, srv, "/pid")
	var p struct {
		PID int `json:"pid"`
	}
	if r.Status != 200 || json.Unmarshal(r.Body, &p) != nil {
		t.Fatalf("GET /pid: %d %q", r.Status, r.Body)
	}
	return p.PID
}

// daemons waits until the front end has n children, and returns them.
func daemons(t *testing.T, srv *harness.Server, n int) []int {
	t.Helper()
	var kids []int
	for deadline := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) {
		if kids = harness.Children(srv.Pid()); len(kids) == n || time.Now().After(deadline) {
			break
		}
	}
	if len(kids) != n {
		t.Fatalf("the front end (pid %d) has %d children %v after %v, want %d daemons", srv.Pid(), len(kids), kids, wait, n)
	}
	return kids
}

// silentDaemon listens on a new socket and serves each connection with serve, in the test's process.
func silentDaemon(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	sock := socketPath(t)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return sock
}

// environOf builds the environ of a request as the front end's reader has it.
func environOf(t *testing.T, method, target string, body io.Reader, length int64, header ...gateway.Header) *gateway.Environ {
	t.Helper()
	req := &gateway.Request{Method: method, Target: target, Proto: "HTTP/1.1", Major: 1, Minor: 1,
		Header: append([]gateway.Header{{Name: "Host", Value: "127.0.0.1:8080"}}, header...), Body: body, ContentLength: length}
	env, err := gateway.NewEnviron(req, gateway.Server{Name: "127.0.0.1", Port: "8080"})
	if err != nil {
		t.Fatal(err)
	}
	return env
}
