package main

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"course/chapters/prefork/preforktest"
	"course/harness"
)

// Step 6: reload on SIGHUP.

func TestStep6Reload(t *testing.T) { preforktest.Reload(t, yours) }

func TestStep6Real(t *testing.T) {
	settings := filepath.Join(t.TempDir(), "settings")
	if err := os.WriteFile(settings, []byte("boot_delay = 300ms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startMaster(t, "-workers", "2", "-settings", settings)
	before := workers(t, srv, 2, "-workers 2")
	inode := listeningInode(t, srv)
	srv.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(wait)
	for {
		now := harness.Children(srv.Pid())
		if len(now) == 2 && !slices.Contains(now, before[0]) && !slices.Contains(now, before[1]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v after SIGHUP the master's children are %v; want 2 new workers in place of %v", wait, now, before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := listeningInode(t, srv); got != inode {
		t.Fatalf("the listening socket changed during the reload (inode %d, then %d): the master must keep the one socket open, "+
			"or connections waiting in its queue are reset", inode, got)
	}
	if p := oneShot(t, srv); slices.Contains(before, p.PID) {
		t.Fatalf("GET /pid answered by an old worker %d after the reload", p.PID)
	}
}
