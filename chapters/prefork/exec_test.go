package prefork_test

import (
	"testing"

	"course/chapters/prefork"
	"course/chapters/prefork/preforktest"
)

// TestSpawnKeepsSocketNonblocking spawns a worker that exits at once, as one that fails to boot does, and checks
// that the listening socket, shared with the other workers, is still in non-blocking mode.
func TestSpawnKeepsSocketNonblocking(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "unix:" + t.TempDir() + "/s"} {
		t.Run(addr, func(t *testing.T) {
			f, err := prefork.Listen(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if !preforktest.Nonblocking(t, f) {
				t.Fatalf("Listen(%q): the socket is in blocking mode", addr)
			}
			p, err := (&prefork.Exec{Listener: f, Path: "/bin/true"}).Spawn(1)
			if err != nil {
				t.Fatal(err)
			}
			p.Wait()
			if !preforktest.Nonblocking(t, f) {
				t.Errorf("after a worker was spawned, the listening socket is in blocking mode: an accept in any other worker would block in the kernel")
			}
		})
	}
}
