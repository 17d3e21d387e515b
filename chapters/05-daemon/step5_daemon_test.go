package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"course/chapters/app"
	"course/chapters/launch"
)

// Step 5: the daemon.

func TestStep5Daemon(t *testing.T) {
	t.Run("GET /hello", func(t *testing.T) {
		g := yourGroup(t, launch.DaemonConfig{Processes: 1, Threads: 2})
		a := viaFront(t, g.reference(), "GET", "/hello", "")
		if a.code != 200 || a.body != "Hello, World!\n" {
			t.Fatalf("GET /hello, sent to your daemon: %d %q\n%s", a.code, a.body, a.head)
		}
		a = viaFront(t, g.reference(), "POST", "/echo", "ping")
		if a.code != 200 || a.body != "ping" {
			t.Fatalf("POST /echo, sent to your daemon: %d %q", a.code, a.body)
		}
	})
	for _, tt := range []struct {
		processes, threads int
		process, thread    string
	}{
		{1, 1, "false", "false"},
		{3, 1, "true", "false"},
		{1, 4, "false", "true"},
		{2, 2, "true", "true"},
	} {
		t.Run(fmt.Sprintf("what the app is told, %d processes of %d threads", tt.processes, tt.threads), func(t *testing.T) {
			g := yourGroup(t, launch.DaemonConfig{Processes: tt.processes, Threads: tt.threads})
			var env map[string]string
			if err := json.Unmarshal([]byte(viaFront(t, g.reference(), "GET", "/env", "").body), &env); err != nil {
				t.Fatalf("GET /env: %v", err)
			}
			if env["wsgi.multiprocess"] != tt.process || env["wsgi.multithread"] != tt.thread {
				t.Errorf("-processes %d -threads %d: wsgi.multiprocess is %q, wsgi.multithread %q; want %q and %q",
					tt.processes, tt.threads, env["wsgi.multiprocess"], env["wsgi.multithread"], tt.process, tt.thread)
			}
		})
	}
	t.Run("-threads 2: two requests at once, and no more accepted", func(t *testing.T) {
		const threads, requests = 2, 5
		ln := &countingListener{}
		d := newDaemonProcess(&launch.DaemonConfig{Processes: 1, Threads: threads, ShutdownTimeout: wait}, app.New(app.Options{}))
		g := serveGroup(t, func(ctx context.Context, l net.Listener) error {
			ln.Listener = l
			return d.serve(ctx, ln, func() error { return nil })
		})
		g.serving(t)
		var wg sync.WaitGroup
		start := time.Now()
		for range requests {
			wg.Go(func() {
				if a := viaFront(t, g.reference(), "GET", "/sleep?ms=300", ""); a.code != 200 {
					t.Errorf("GET /sleep?ms=300: %d %q", a.code, a.body)
				}
			})
		}
		wg.Wait()
		took := time.Since(start)
		if peak := g.stats(t)["max_inflight"]; peak != threads {
			t.Errorf("%d requests of 300 ms sent at once ran %d at a time, want %d (-threads %d)", requests, peak, threads, threads)
		}
		if took < 800*time.Millisecond {
			t.Errorf("%d requests of 300 ms with -threads %d took %v: they ran more than %d at a time", requests, threads, took, threads)
		}
		if peak := ln.peak.Load(); peak > threads {
			t.Errorf("the daemon held %d connections at once with -threads %d: a goroutine must take a connection only when it "+
				"is free, so that the others wait in the socket's queue, where any daemon of the group can take them", peak, threads)
		}
	})
	t.Run("it stops when told to, once its requests are done", func(t *testing.T) {
		g := yourGroup(t, launch.DaemonConfig{Processes: 1, Threads: 1})
		answered := make(chan answer, 1)
		go func() { answered <- viaFront(t, g.reference(), "GET", "/sleep?ms=500", "") }()
		time.Sleep(150 * time.Millisecond)
		g.stop()
		select {
		case err := <-g.done:
			g.done <- err
			if a := <-answered; a.code != 200 {
				t.Fatalf("the request in flight when the daemon was told to stop got %d %q: it must finish first", a.code, a.body)
			}
		case <-time.After(wait):
			t.Fatalf("serve did not return %v after its context was cancelled", wait)
		}
	})
}

// TestStep5Real starts this chapter's program with Go daemons and asks who answers.
func TestStep5Real(t *testing.T) {
	srv := startFront(t, "-daemon", "go", "-processes", "2", "-threads", "2")
	kids := daemons(t, srv, 2)
	for range 10 {
		if pid := pidOf(t, srv); !slices.Contains(kids, pid) {
			t.Fatalf("GET /pid was answered by pid %d, which is not one of the front end's daemons %v", pid, kids)
		}
	}
}

// countingListener counts the connections its Accept handed out that are not closed yet.
type countingListener struct {
	net.Listener
	held, peak atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.held.Add(1)
	for p := l.peak.Load(); n > p && !l.peak.CompareAndSwap(p, n); p = l.peak.Load() {
	}
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.held.Add(-1) })
	return c.Conn.Close()
}
