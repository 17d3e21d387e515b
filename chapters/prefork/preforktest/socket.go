package preforktest

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Nonblocking reports whether the socket in f is in non-blocking mode. It reads the mode through SyscallConn,
// not Fd, which would switch a socket file that package net made to blocking mode.
func Nonblocking(t testing.TB, f *os.File) bool {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatalf("the socket's mode: %v", err)
	}
	var flags int
	if err := rc.Control(func(fd uintptr) { flags, err = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil {
		t.Fatalf("the socket's mode: %v", err)
	}
	if err != nil {
		t.Fatalf("the socket's mode: fcntl: %v", err)
	}
	return flags&unix.O_NONBLOCK != 0
}
