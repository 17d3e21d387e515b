package main

import (
	"context"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"course/chapters/gateway"
	"course/chapters/launch"
	"course/chapters/steptest"
)

// Step 1: the listening socket. README: "Step 1: the listening socket".

// listened calls listen on 127.0.0.1:0 (a port the kernel chooses) and returns what it returned, failing the
// test unless it is a listener.
func listened(t *testing.T, ctx context.Context) (net.Listener, gateway.Server) {
	t.Helper()
	var ln net.Listener
	var gw gateway.Server
	var err error
	if !within(t, 2*time.Second, "listen", func() { ln, gw, err = listen(ctx, &launch.Config{Addr: "127.0.0.1:0"}) }) {
		t.FailNow()
	}
	if err != nil {
		t.Fatalf("listen on 127.0.0.1:0: %v", err)
	}
	if ln == nil {
		t.Fatal("listen returned no listener and no error")
	}
	t.Cleanup(func() { ln.Close() })
	return ln, gw
}

func TestStep1Listen(t *testing.T) {
	tests := []struct {
		rule  string
		check func(t *testing.T, ctx context.Context, cancel context.CancelFunc)
	}{
		{"a client connects before anyone calls Accept: the kernel completes the handshake (listen(2))", func(t *testing.T, ctx context.Context, cancel context.CancelFunc) {
			ln, _ := listened(t, ctx)
			c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
			if err != nil {
				t.Fatalf("connect to the listener: %v", err)
			}
			defer c.Close()
			if _, err := c.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
				t.Fatalf("send a request line before Accept: %v", err)
			}
			var conn net.Conn
			if !within(t, 2*time.Second, "Accept on the listener", func() { conn, err = ln.Accept() }) {
				return
			}
			if err != nil {
				t.Fatalf("Accept: %v", err)
			}
			defer conn.Close()
			conn.SetReadDeadline(time.Now().Add(time.Second))
			got := make([]byte, 16)
			if _, err := io.ReadFull(conn, got); err != nil || string(got) != "GET / HTTP/1.1\r\n" {
				t.Errorf("the accepted connection gave %q, %v; want the bytes the client sent before Accept", got, err)
			}
		}},
		{"cancelling ctx closes the listener: a blocked Accept fails (how SIGTERM stops the server)", func(t *testing.T, ctx context.Context, cancel context.CancelFunc) {
			ln, _ := listened(t, ctx)
			errs := make(chan error, 1)
			go func() {
				conn, err := ln.Accept()
				if err == nil {
					conn.Close()
				}
				errs <- err
			}()
			time.Sleep(50 * time.Millisecond) // let Accept block
			cancel()
			select {
			case err := <-errs:
				if err == nil {
					t.Error("Accept returned a connection after ctx was cancelled; want an error")
				}
			case <-time.After(2 * time.Second):
				t.Error("Accept still waits 2s after ctx was cancelled: listen must close the listener when ctx is cancelled")
			}
		}},
		{"Port is the port the listener got, as digits; Name is 127.0.0.1; Errors is os.Stderr (PEP 3333's environ)", func(t *testing.T, ctx context.Context, cancel context.CancelFunc) {
			ln, gw := listened(t, ctx)
			port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
			if gw.Port != port || gw.Name != "127.0.0.1" || gw.Errors != os.Stderr {
				t.Errorf("the gateway.Server is Name %q, Port %q, Errors %v; want Name \"127.0.0.1\", Port %q (the listener's), Errors os.Stderr", gw.Name, gw.Port, gw.Errors, port)
			}
		}},
		{"wsgi.multithread and wsgi.multiprocess say what is true of this server (PEP 3333)", func(t *testing.T, ctx context.Context, cancel context.CancelFunc) {
			_, gw := listened(t, ctx)
			if gw.MultiThread || gw.MultiProcess {
				t.Errorf("MultiThread %v, MultiProcess %v: can another thread or process of this server call the app while it runs a request? (README: The gateway)", gw.MultiThread, gw.MultiProcess)
			}
		}},
		{"the server's code sets MultiThread and MultiProcess itself: a decision, not a zero value left as it was", func(t *testing.T, ctx context.Context, cancel context.CancelFunc) {
			set, err := steptest.FieldsSet(".", "MultiThread", "MultiProcess")
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"MultiThread", "MultiProcess"} {
				if !set[f] {
					t.Errorf("no code of the server sets %s: decide what is true of this server, set it in listen, and say why in a comment (README: The gateway)", f)
				}
			}
		}},
		{"a port already in use is an error, returned", func(t *testing.T, ctx context.Context, cancel context.CancelFunc) {
			busy, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer busy.Close()
			var ln net.Listener
			if !within(t, 2*time.Second, "listen", func() { ln, _, err = listen(ctx, &launch.Config{Addr: busy.Addr().String()}) }) {
				return
			}
			if err == nil {
				ln.Close()
				t.Errorf("listen on %s, a port in use, returned no error", busy.Addr())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tt.check(t, ctx, cancel)
		})
	}
}
