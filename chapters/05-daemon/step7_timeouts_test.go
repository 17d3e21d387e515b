package main

import (
	"sync"
	"testing"
	"time"

	"course/chapters/launch"
)

// Step 7: requests that never end.

func TestStep7RequestTimeout(t *testing.T) {
	g := yourGroup(t, launch.DaemonConfig{Processes: 1, Threads: 2, RequestTimeout: 400 * time.Millisecond, ShutdownTimeout: wait})
	var sibling answer
	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(150 * time.Millisecond)
		sibling = viaFront(t, g.reference(), "GET", "/sleep?ms=350", "")
	})
	start := time.Now()
	a := viaFront(t, g.reference(), "GET", "/sleep?ms=30000", "")
	took := time.Since(start)
	if a.code != 504 {
		t.Fatalf("GET /sleep?ms=30000 with a request timeout of 400 ms: %d %q after %v, want 504", a.code, a.body, took.Round(time.Millisecond))
	}
	if took > 3*time.Second {
		t.Errorf("the 504 came %v after the request: it must come at the request timeout (400 ms), while the app still runs", took.Round(time.Millisecond))
	}
	wg.Wait()
	if sibling.code != 200 {
		t.Errorf("a request of 350 ms on the daemon's other thread got %d %q: it must finish before the daemon restarts", sibling.code, sibling.body)
	}
	select {
	case <-g.done:
		g.done <- nil
	case <-time.After(wait):
		t.Fatalf("serve had not returned %v after the request timeout: the daemon must restart (stop accepting, let the "+
			"other requests finish, return), for the stuck goroutine dies only with the process", wait)
	}
}

func TestStep7MaximumRequests(t *testing.T) {
	g := yourGroup(t, launch.DaemonConfig{Processes: 1, Threads: 2, MaximumRequests: 3})
	for i := range 3 {
		if a := viaFront(t, g.reference(), "GET", "/hello", ""); a.code != 200 {
			t.Fatalf("request %d of -maximum-requests 3: %d %q", i+1, a.code, a.body)
		}
	}
	select {
	case <-g.done:
		g.done <- nil
	case <-time.After(wait):
		t.Fatalf("serve had not returned %v after -maximum-requests 3 requests", wait)
	}
}

// TestStep7Real hangs a request in a real front end's daemon: 504 at -request-timeout, and a new daemon.
func TestStep7Real(t *testing.T) {
	srv := startFront(t, "-daemon", "go", "-processes", "1", "-threads", "2", "-request-timeout", "500ms", "-shutdown-timeout", "2s")
	before := daemons(t, srv, 1)
	if r := get(t, srv, "/sleep?ms=30000"); r.Status != 504 {
		t.Fatalf("GET /sleep?ms=30000 with -request-timeout 500ms: %d %q, want 504", r.Status, r.Body)
	}
	for deadline := time.Now().Add(wait); ; time.Sleep(50 * time.Millisecond) {
		if now := daemons(t, srv, 1); now[0] != before[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon %d is still there %v after its request ran past -request-timeout: it must restart", before[0], wait)
		}
	}
	if r := get(t, srv, "/hello"); r.Status != 200 {
		t.Fatalf("GET /hello after the restart: %d", r.Status)
	}
}
