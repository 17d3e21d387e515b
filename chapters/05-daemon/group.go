package main

import (
	"os"
)

// Step 4: the daemon group's socket (README: "Step 4: one socket, one queue").

// listenGroup creates the daemon group's socket: a UNIX stream socket bound to path, listening with a queue
// of exactly backlog connections, and returns it as a file, to pass to the daemons (they inherit it at fd 3,
// as chapter 4's workers inherit theirs). The descriptor must not leak into other programs the front end
// starts (close-on-exec: the master passes it on by name). Whoever can connect to the socket can send the
// daemons any request, with any CGI variable: the socket file has mode 0600 before anyone can connect to it.
// On an error, close what was opened and say what failed, on which path.
//
// net.Listen cannot do it: it always asks the kernel for its largest queue. The system calls themselves can
// (README: "Step 4"); package golang.org/x/sys/unix has them.
func listenGroup(path string, backlog int) (*os.File, error) {
	// TODO (step 4)
	return nil, notWritten(4, "listenGroup in group.go")
}
