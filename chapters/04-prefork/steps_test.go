package main

import (
	"encoding/json"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"course/chapters/prefork"
	"course/chapters/prefork/preforktest"
	"course/chapters/steptest"
	"course/harness"
)

// What the tests of the chapter's steps share (README, "What you will build"). Run them a step at a time:
//
//	make check CHAPTER=4 STEP=2      # or: go test -run '^TestStep2' ./chapters/04-prefork
//
// Steps 2 to 6 test the master twice: with pretend workers (package preforktest), which shows each rule
// on its own and quickly, then for real, with this chapter's program as the master and its workers.

// listenProbe names the variable that makes this test program a probe of listen (TestStep1Listen): it
// calls listen with the variable's value and prints what it got.
const listenProbe = "PREFORK_STEPS_LISTEN_PROBE"

func TestMain(m *testing.M) {
	if addr, ok := os.LookupEnv(listenProbe); ok {
		f, err := listen(addr)
		if err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(1)
		}
		var st syscall.Stat_t
		syscall.Fstat(int(f.Fd()), &st)
		fmt.Printf("inode %d LISTEN_PID=%q LISTEN_FDS=%q\n", st.Ino, os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"))
		os.Exit(0)
	}
	if kind, ok := os.LookupEnv(counterProbe); ok {
		runCounterProbe(kind)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// What the step tests share: this chapter's program built once, started as a master, and asked for /pid.

// wait bounds how long a test waits for a master to react: generous, for a loaded machine.
const wait = 5 * time.Second

// yours makes this chapter's master (master.go) for the scenarios of package preforktest.
func yours(cfg prefork.Config) preforktest.Run { return newMaster(cfg).run }

// program builds this chapter's program, once for all the tests, and returns its path.
func program(t *testing.T) string { return steptest.Program(t) }

// startMaster starts this chapter's program as a master on a free port, with flags, and stops it when the
// test ends.
func startMaster(t *testing.T, flags ...string) *harness.Server {
	t.Helper()
	return steptest.Start(t, "the master", wait, flags...)
}

// workers waits until the master has exactly n children, and returns them.
func workers(t *testing.T, srv *harness.Server, n int, why string) []int {
	t.Helper()
	var kids []int
	deadline := time.Now().Add(wait)
	for {
		kids = harness.Children(srv.Pid())
		if len(kids) == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(kids) != n {
		t.Fatalf("%s: the master (pid %d) has %d children %v after %v, want %d", why, srv.Pid(), len(kids), kids, wait, n)
	}
	return kids
}

// pidInfo is what /pid answers.
type pidInfo struct {
	PID    int    `json:"pid"`
	Worker string `json:"worker"`
}

// get sends GET target on c and returns the response, failing the test on an error or a status but 200.
func get(t *testing.T, c *harness.Conn, target string) *harness.Response {
	t.Helper()
	if err := c.Send(harness.Request("GET", target)); err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	r, err := c.ReadResponse(wait, false)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	if r.Status != 200 {
		t.Fatalf("GET %s: got %d %s, want 200", target, r.Status, r.Reason)
	}
	return r
}

// dial connects to srv, and closes the connection when the test ends.
func dial(t *testing.T, srv *harness.Server) *harness.Conn {
	t.Helper()
	c, err := harness.Dial(srv.Addr(), wait)
	if err != nil {
		t.Fatalf("connecting to %s: %v", srv.Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// whoAnswers asks /pid on c.
func whoAnswers(t *testing.T, c *harness.Conn) pidInfo {
	t.Helper()
	var p pidInfo
	if err := json.Unmarshal(get(t, c, "/pid").Body, &p); err != nil {
		t.Fatalf("GET /pid: %v", err)
	}
	return p
}

// oneShot asks /pid on a connection of its own.
func oneShot(t *testing.T, srv *harness.Server) pidInfo {
	t.Helper()
	c := dial(t, srv)
	defer c.Close()
	return whoAnswers(t, c)
}

// listeningInode returns the inode of the one socket listening on srv's port.
func listeningInode(t *testing.T, srv *harness.Server) uint64 {
	t.Helper()
	inodes, err := harness.ListeningSockets(srv.Port())
	if err != nil || len(inodes) != 1 {
		t.Fatalf("sockets listening on port %d: %v (%v), want exactly one", srv.Port(), inodes, err)
	}
	return inodes[0]
}

// fileInode returns the inode of the file f, a socket's for a socket.
func fileInode(t *testing.T, f *os.File) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatalf("fstat: %v", err)
	}
	return st.Ino
}

// exitWithin waits up to d for srv's master to exit and returns how it exited.
func exitWithin(t *testing.T, srv *harness.Server, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if done, how := srv.Exited(); done {
			return how
		}
		if time.Now().After(deadline) {
			t.Fatalf("the master was still running %v later", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
