package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"course/chapters/prefork/preforktest"
	"course/harness"
)

// Step 4: heartbeats, and the timeout.

func TestStep4Timeout(t *testing.T) { preforktest.Timeout(t, yours) }

func TestStep4Real(t *testing.T) {
	srv := startMaster(t, "-workers", "1", "-timeout", "1s")
	workers(t, srv, 1, "-workers 1")
	c := dial(t, srv)
	hung := whoAnswers(t, c).PID
	if err := c.Send(harness.Request("GET", "/sleep?ms=6000")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r, err := c.ReadResponse(10*time.Second, false)
	took := time.Since(start)
	if err == nil {
		t.Fatalf("GET /sleep?ms=6000 with -timeout 1s got %d after %v: the master must kill a worker whose request runs past the timeout", r.Status, took.Round(time.Millisecond))
	}
	if took < 900*time.Millisecond || took > 4*time.Second {
		t.Errorf("the hung worker's connection ended %v after the request, want about 1s (-timeout 1s)", took.Round(time.Millisecond))
	}
	if alive := harness.WaitGone([]int{hung}, wait); len(alive) > 0 {
		t.Fatalf("the hung worker (pid %d) is still running", hung)
	}
	if p := oneShot(t, srv); p.PID == hung {
		t.Fatalf("GET /pid answered by the hung worker %d", hung)
	}
	out := strings.ToLower(srv.Output())
	if !strings.Contains(out, strconv.Itoa(hung)) || !strings.Contains(out, "timeout") && !strings.Contains(out, "timed out") {
		t.Errorf("the master's log must say which worker (pid %d) was killed, and why (a timeout):\n%s", hung, srv.Output())
	}
}
