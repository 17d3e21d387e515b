package main

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Step 2: the accept loop. README: "Step 2: the accept loop".

// looping runs acceptLoop on ln with handle, and returns a channel that gets its result.
func looping(ctx context.Context, ln net.Listener, handle func(net.Conn)) <-chan error {
	done := make(chan error, 1)
	go func() { done <- acceptLoop(ctx, ln, handle) }()
	return done
}

// stopped waits up to d for acceptLoop's result.
func stopped(done <-chan error, d time.Duration) (err error, ok bool) {
	select {
	case err := <-done:
		return err, true
	case <-time.After(d):
		return nil, false
	}
}

// failing is a listener whose Accept fails with EMFILE, as a process out of file descriptors sees, until it
// is closed. It counts the calls.
type failing struct {
	calls  atomic.Int32
	once   sync.Once
	closed chan struct{}
}

func (f *failing) Accept() (net.Conn, error) {
	f.calls.Add(1)
	select {
	case <-f.closed:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}
	default:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
}

func (f *failing) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

func (f *failing) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func TestStep2AcceptLoop(t *testing.T) {
	tests := []struct {
		rule  string
		check func(t *testing.T, ctx context.Context, cancel context.CancelFunc, ln net.Listener)
	}{
		{"one connection at a time: the next is accepted only once handle has returned", func(t *testing.T, ctx context.Context, cancel context.CancelFunc, ln net.Listener) {
			handled := make(chan string, 2) // the first byte each handled connection sent
			release := make(chan struct{})
			var once sync.Once
			free := func() { once.Do(func() { close(release) }) }
			defer free()
			done := looping(ctx, ln, func(conn net.Conn) {
				defer conn.Close()
				b := make([]byte, 1)
				conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				io.ReadFull(conn, b)
				handled <- string(b)
				<-release
			})
			for _, name := range []string{"A", "B"} {
				c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.Write([]byte(name))
				time.Sleep(50 * time.Millisecond) // A connects first
			}
			select {
			case got := <-handled:
				if got != "A" {
					t.Fatalf("the first connection handled sent %q; want %q, the first to connect", got, "A")
				}
			case err := <-done:
				t.Fatalf("acceptLoop returned %v before it handled a connection", err)
			case <-time.After(2 * time.Second):
				t.Fatal("handle was not called within 2s of a client connecting")
			}
			select {
			case <-handled:
				t.Fatal("a second connection was handled while handle still ran for the first: acceptLoop must call handle itself, not in a new goroutine, and accept the next connection only when it returns")
			case <-time.After(300 * time.Millisecond):
			}
			free()
			select {
			case got := <-handled:
				if got != "B" {
					t.Errorf("the second connection handled sent %q; want %q", got, "B")
				}
			case <-time.After(2 * time.Second):
				t.Error("the second connection was not handled within 2s of handle returning for the first: go back to Accept after handle")
			}
		}},
		{"cancelling ctx, which closes the listener, ends the loop with nil: a clean stop", func(t *testing.T, ctx context.Context, cancel context.CancelFunc, ln net.Listener) {
			context.AfterFunc(ctx, func() { ln.Close() }) // as listen does
			done := looping(ctx, ln, func(conn net.Conn) { conn.Close() })
			time.Sleep(50 * time.Millisecond)
			cancel()
			err, ok := stopped(done, 2*time.Second)
			switch {
			case !ok:
				t.Error("acceptLoop still runs 2s after ctx was cancelled and the listener closed")
			case err != nil:
				t.Errorf("acceptLoop returned %v after ctx was cancelled; want nil: the server was told to stop, that is no failure", err)
			}
		}},
		{"a listener closed while ctx is not cancelled: the loop returns an error, it does not retry forever", func(t *testing.T, ctx context.Context, cancel context.CancelFunc, ln net.Listener) {
			done := looping(ctx, ln, func(conn net.Conn) { conn.Close() })
			time.Sleep(50 * time.Millisecond)
			ln.Close()
			err, ok := stopped(done, 2*time.Second)
			switch {
			case !ok:
				t.Error("acceptLoop still runs 2s after its listener was closed: an Accept error that says the listener is closed (net.ErrClosed) will not go away, return it")
			case err == nil:
				t.Error("acceptLoop returned nil after its listener was closed while ctx was not cancelled; want the error")
			}
		}},
		{"an Accept error such as EMFILE is logged and retried after a pause, not returned, and not retried at once", func(t *testing.T, ctx context.Context, cancel context.CancelFunc, _ net.Listener) {
			f := &failing{closed: make(chan struct{})}
			done := looping(ctx, f, func(conn net.Conn) { conn.Close() })
			if err, ok := stopped(done, 500*time.Millisecond); ok {
				t.Fatalf("acceptLoop returned %v when Accept failed with EMFILE: that must not stop the server; log it, pause, accept again", err)
			}
			calls := f.calls.Load()
			cancel()
			f.Close()
			if calls < 2 {
				t.Errorf("Accept was called %d times in 500ms of EMFILE errors; want it tried again after a pause", calls)
			}
			if calls > 50 {
				t.Errorf("Accept was called %d times in 500ms of EMFILE errors: pause (say 100ms) before trying again, or the loop spins at 100%% CPU", calls)
			}
			if err, ok := stopped(done, 2*time.Second); !ok || err != nil {
				t.Errorf("after the failing listener was closed and ctx cancelled, acceptLoop returned %v (returned: %v); want nil", err, ok)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			tt.check(t, ctx, cancel, ln)
		})
	}
}
