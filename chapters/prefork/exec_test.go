package prefork

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// nonblocking reports whether the socket in f is in non-blocking mode, without Fd (which would change it).
func nonblocking(t *testing.T, f *os.File) bool {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	if err := rc.Control(func(fd uintptr) { flags, err = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return flags&unix.O_NONBLOCK != 0
}

// TestSpawnKeepsSocketNonblocking spawns a worker that exits at once, as one that fails to boot does, and checks
// that the listening socket, shared with the other workers, is still in non-blocking mode.
func TestSpawnKeepsSocketNonblocking(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "unix:" + t.TempDir() + "/s"} {
		t.Run(addr, func(t *testing.T) {
			f, err := Listen(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if !nonblocking(t, f) {
				t.Fatalf("Listen(%q): the socket is in blocking mode", addr)
			}
			p, err := (&Exec{Listener: f, Path: "/bin/true"}).Spawn(1)
			if err != nil {
				t.Fatal(err)
			}
			p.Wait()
			if !nonblocking(t, f) {
				t.Errorf("after a worker was spawned, the listening socket is in blocking mode: an accept in any other worker would block in the kernel")
			}
		})
	}
}
