package daemon

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Listen creates the daemon group's socket: a UNIX stream socket bound to path and listening with a queue of
// backlog connections, which only this user may connect to. It returns it as a file, to pass to the daemons.
//
// Package net cannot do it: net.Listen always asks for the largest queue the kernel allows
// (/proc/sys/net/core/somaxconn, 4096 on a recent Linux), and the queue's length is this server's
// listen-backlog. So the socket is made with the system calls themselves. The kernel queues up to backlog+1
// connections on a UNIX socket; a connect to a full queue fails at once with EAGAIN (on a non-blocking
// socket, as Go's are), which is how the front end learns that the group is full.
//
// Whoever can connect to the socket can send the daemons any CGI variable it likes (REMOTE_USER, say): the
// socket file gets mode 0600 before it listens. mod_wsgi does the same, and also sends a secret of the
// group with every request (mod_wsgi.magic) that the daemon checks.
func Listen(path string, backlog int) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("the daemons' socket: %w", err)
	}
	fail := func(what string, err error) (*os.File, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("the daemons' socket %s: %s: %w", path, what, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return fail("bind", err)
	}
	// Before listen: until then, nobody can connect.
	if err := os.Chmod(path, 0o600); err != nil {
		return fail("chmod", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return fail("listen", err)
	}
	return os.NewFile(uintptr(fd), path), nil
}
