package main

import (
	"syscall"
	"testing"
	"time"

	"course/chapters/prefork/preforktest"
	"course/harness"
)

// Step 3: stop on SIGTERM, one worker more or less on SIGTTIN and SIGTTOU.

func TestStep3Stop(t *testing.T)  { preforktest.Stop(t, yours) }
func TestStep3Scale(t *testing.T) { preforktest.Scale(t, yours) }

func TestStep3Real(t *testing.T) {
	srv := startMaster(t, "-workers", "2", "-shutdown-timeout", "2s")
	kids := workers(t, srv, 2, "-workers 2")
	srv.Signal(syscall.SIGTTIN)
	workers(t, srv, 3, "after SIGTTIN")
	srv.Signal(syscall.SIGTTOU)
	workers(t, srv, 2, "after SIGTTOU")
	kids = harness.Children(srv.Pid())

	c := dial(t, srv)
	if err := c.Send(harness.Request("GET", "/sleep?ms=500")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	srv.Signal(syscall.SIGTERM)
	r, err := c.ReadResponse(wait, false)
	if err != nil || r.Status != 200 {
		t.Fatalf("GET /sleep?ms=500, in flight when SIGTERM came: %v %v, want 200: a worker finishes its requests before it exits", r, err)
	}
	if how := exitWithin(t, srv, wait); how != "exit status 0" {
		t.Errorf("the master exited with %s after SIGTERM, want exit status 0", how)
	}
	if alive := harness.WaitGone(kids, time.Second); len(alive) > 0 {
		t.Errorf("workers %v still run after the master exited", alive)
	}
}
