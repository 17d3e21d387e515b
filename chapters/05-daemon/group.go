package main

import (
	"os"
)

// Step 4: the daemon group's socket (README: "Step 4: one socket, one queue").

// listenGroup creates the daemon group's socket: a UNIX stream socket bound to path, listening with a queue
// of exactly backlog connections, and returns it as a file, to pass to the daemons (they inherit it at fd 3,
// as chapter 4's workers inherit theirs).
//
// net.Listen cannot do it: it always asks the kernel for its largest queue. Make the socket with the system
// calls of package golang.org/x/sys/unix: unix.Socket (unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC),
// unix.Bind (a unix.SockaddrUnix), then unix.Listen(fd, backlog); os.NewFile turns the descriptor into a
// file. Before it listens, give the socket file mode 0600 (os.Chmod): whoever can connect to it can send the
// daemons any request, with any CGI variable. On an error, close the descriptor and say what failed.
func listenGroup(path string, backlog int) (*os.File, error) {
	// TODO (step 4)
	return nil, notWritten(4, "listenGroup in group.go")
}
