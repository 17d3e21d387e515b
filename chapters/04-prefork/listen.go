package main

import (
	"io"
	"os"
	"time"

	"course/chapters/prefork"
)

// Step 1: the listening socket, and a worker that inherits it (README: "Step 1: one socket, one worker").

// listen returns the master's listening socket, as a file to pass on to the workers.
//
// When systemd started this process with sockets (socket activation, sd_listen_fds(3): LISTEN_PID is this
// process's pid, and LISTEN_FDS, at least 1, says how many sockets it passed, from fd 3 on), the socket is
// open already at fd 3: return it, and unset LISTEN_PID and LISTEN_FDS so that the workers, which inherit
// the environment, do not take them for theirs. This server listens on one socket: a LISTEN_FDS above 1
// (a socket unit that names several) is an error, as is one that is not a number. Otherwise open a TCP
// socket listening on addr and return it as a file: the duplicate of its descriptor that the File method
// of *net.TCPListener returns. The listener can then be closed: the socket stays open as long as a
// descriptor for it is open, in this process or in any that inherited one.
func listen(addr string) (*os.File, error) {
	// TODO (step 1)
	return nil, notWritten(1, "listen in listen.go")
}

// spawner starts the worker processes of the master: it implements prefork.Spawner.
type spawner struct {
	Listener *os.File      // the listening socket, which each worker inherits at fd 3
	Beat     time.Duration // the beat interval the workers are told (PREFORK_BEAT_MS)
	// Path is the program to run, and Args its arguments. An empty Path means this program again
	// (os.Executable) with this process's own arguments (os.Args[1:]).
	Path string
	Args []string
	// Files are more descriptors for the app, from fd 5 on (step 7: the shared counter).
	Files []*os.File
	// Stdout and Stderr receive the workers' output; nil means this process's own.
	Stdout, Stderr io.Writer
}

// Spawn starts worker id: the program run again with os/exec, with
//
//   - the listening socket at fd 3, the write end of a new pipe (os.Pipe) at fd 4, and Files from fd 5 on:
//     cmd.ExtraFiles[i] becomes fd 3+i in the worker (every other descriptor is closed on exec);
//   - this process's environment plus PREFORK_FD=3, PREFORK_HEARTBEAT_FD=4, PREFORK_WORKER=id and
//     PREFORK_BEAT_MS, the beat in milliseconds (the names are constants of package prefork);
//   - Stdout and Stderr, or this process's own.
//
// The socket must stay in non-blocking mode for every worker that holds it (README: "The socket's mode is shared
// too"): os/exec's Fd of a socket file that package net made switches it to blocking mode.
//
// Once the worker has started, close the master's copy of the pipe's write end: the read end sees end of
// file only when no process holds the write end any more, which is how the master learns that the worker
// exited. Return prefork.NewProcess(cmd, readEnd).
func (s *spawner) Spawn(id int) (prefork.Process, error) {
	// TODO (step 1)
	return nil, notWritten(1, "Spawn in listen.go")
}
