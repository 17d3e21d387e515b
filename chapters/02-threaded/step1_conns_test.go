package main

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// Step 1: a goroutine per connection. README: "Step 1: a goroutine per connection".

// server is serveConns running on a listener of its own, as serve runs it.
type server struct {
	ln     net.Listener
	cancel context.CancelFunc // SIGTERM, as far as serveConns can tell
	done   chan error         // gets what serveConns returns
}

// serving starts serveConns with handle and grace on a new listener of 127.0.0.1, which is closed when its
// context is cancelled, as launch.Listen's is. The end of the test stops it.
func serving(t *testing.T, handle func(net.Conn), grace time.Duration) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	context.AfterFunc(ctx, func() { ln.Close() })
	s := &server{ln: ln, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- serveConns(ctx, ln, handle, grace) }()
	t.Cleanup(cancel)
	return s
}

// dial connects to s and sends name, which the handlers of these tests read first. The end of the test closes
// the connection.
func (s *server) dial(t *testing.T, name string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.ln.Addr().String(), patience)
	if err != nil {
		t.Fatalf("connect to serveConns' listener: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte(name)); err != nil {
		t.Fatalf("send %q: %v", name, err)
	}
}

// stopped waits up to d for serveConns to return.
func (s *server) stopped(d time.Duration) (err error, ok bool) {
	select {
	case err := <-s.done:
		return err, true
	case <-time.After(d):
		return nil, false
	}
}

// holding returns a handler that reads the connection's one-byte name, sends it on in, and holds the connection
// until g opens.
func holding(g *gate, in chan<- string, count *gauge) func(net.Conn) {
	return func(conn net.Conn) {
		defer conn.Close()
		count.during(func() {
			name := make([]byte, 1)
			conn.SetReadDeadline(time.Now().Add(patience))
			if _, err := io.ReadFull(conn, name); err != nil {
				return
			}
			in <- string(name)
			g.wait()
		})
	}
}

// arrived waits up to patience for the handler of the connection named name to have started.
func arrived(t *testing.T, in <-chan string, name, why string) {
	t.Helper()
	select {
	case got := <-in:
		if got != name {
			t.Fatalf("handle got the connection %q; want %q", got, name)
		}
	case <-time.After(patience):
		t.Fatalf("handle was not called for connection %q within %v: %s", name, patience, why)
	}
}

func TestStep1GoroutinePerConnection(t *testing.T) {
	tests := []struct {
		rule  string
		check func(t *testing.T, g *gate, in chan string, count *gauge, s *server)
	}{
		{"a connection is served while the handler of another still runs: each has a goroutine of its own", func(t *testing.T, g *gate, in chan string, count *gauge, s *server) {
			s.dial(t, "A")
			arrived(t, in, "A", "accept connections with launch.Accept, and call handle for each")
			s.dial(t, "B")
			arrived(t, in, "B", "the first connection's handler still runs, and the second waits in the listen backlog: "+
				"run handle on a goroutine of its own, and go back to Accept at once")
		}},
		{"50 connections are served at once: one goroutine per connection, with no limit of its own", func(t *testing.T, g *gate, in chan string, count *gauge, s *server) {
			const n = 50
			for range n {
				s.dial(t, "x")
			}
			if !eventually(2*patience, func() bool { return count.running() == n }) {
				t.Errorf("%d handlers ran at once, %v after %d clients connected; want all %d: a goroutine per connection, "+
					"not a fixed number of them (the limit on the app calls is the pool's, step 2)", count.running(), 2*patience, n, n)
			}
		}},
		{"once ctx is cancelled, serveConns returns only when every handler has returned (a sync.WaitGroup)", func(t *testing.T, g *gate, in chan string, count *gauge, s *server) {
			s.dial(t, "A")
			arrived(t, in, "A", "accept connections with launch.Accept, and call handle for each")
			s.cancel()
			if err, waiting := stillWaiting(s.done); !waiting {
				t.Fatalf("serveConns returned (%v) right after ctx was cancelled, while a handler still ran: wait for the "+
					"handlers, so that the requests in flight are finished before the server exits", err)
			}
			g.open()
			err, ok := s.stopped(patience)
			switch {
			case !ok:
				t.Errorf("serveConns has not returned %v after its last handler did", patience)
			case err != nil:
				t.Errorf("serveConns returned %v after ctx was cancelled; want nil: the server was told to stop, that is no failure", err)
			}
		}},
		{"cancelling ctx, which closes the listener, ends serveConns with nil: a clean stop", func(t *testing.T, g *gate, in chan string, count *gauge, s *server) {
			time.Sleep(50 * time.Millisecond) // let it block in Accept
			s.cancel()
			err, ok := s.stopped(patience)
			switch {
			case !ok:
				t.Errorf("serveConns still runs %v after ctx was cancelled and its listener closed", patience)
			case err != nil:
				t.Errorf("serveConns returned %v after ctx was cancelled; want nil: the server was told to stop, that is no failure", err)
			}
		}},
		{"a listener closed while ctx is not cancelled: serveConns returns the error", func(t *testing.T, g *gate, in chan string, count *gauge, s *server) {
			time.Sleep(50 * time.Millisecond)
			s.ln.Close()
			err, ok := s.stopped(patience)
			switch {
			case !ok:
				t.Errorf("serveConns still runs %v after its listener was closed", patience)
			case err == nil:
				t.Error("serveConns returned nil after its listener was closed while ctx was not cancelled; want Accept's error: the server did not stop on its own")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			g := newGate(t)
			in := make(chan string, 100)
			count := &gauge{}
			s := serving(t, holding(g, in, count), 5*time.Second)
			tt.check(t, g, in, count, s)
		})
	}
}
