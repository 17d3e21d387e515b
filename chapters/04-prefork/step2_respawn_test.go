package main

import (
	"slices"
	"syscall"
	"testing"
	"time"

	"course/chapters/prefork/preforktest"
	"course/harness"
)

// Step 2: N workers, reaped and replaced.

func TestStep2Respawn(t *testing.T) { preforktest.Respawn(t, yours) }

func TestStep2Real(t *testing.T) {
	srv := startMaster(t, "-workers", "3")
	kids := workers(t, srv, 3, "-workers 3")
	seen := map[int]bool{}
	for range 30 {
		p := oneShot(t, srv)
		if !slices.Contains(kids, p.PID) {
			t.Fatalf("GET /pid was answered by pid %d, which is not one of the master's children %v", p.PID, kids)
		}
		seen[p.PID] = true
	}
	if len(seen) < 2 {
		t.Logf("only pid %v answered 30 requests: the kernel chose the same worker each time", seen)
	}
	if err := harness.SignalPid(kids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for {
		now := harness.Children(srv.Pid())
		if len(now) == 3 && !slices.Contains(now, kids[0]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after kill -9 of worker pid %d, the master's children are %v: want 3 again, a new one in its place", kids[0], now)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if z := harness.Zombies(srv.Pid()); len(z) > 0 {
		time.Sleep(200 * time.Millisecond)
		if z = harness.Zombies(srv.Pid()); len(z) > 0 {
			t.Fatalf("the killed worker is a zombie (pids %v): the master must wait for its children (cmd.Wait)", z)
		}
	}
}
