// Package prefork runs a server as a master process and N worker processes that share one listening
// socket, the architecture of gunicorn's arbiter, Unicorn and Apache's prefork MPM. It is chapter 4's
// reference answer (the chapter's learner writes the master) and the process manager of chapter 5, which
// runs Go and Python daemon processes under it on a UNIX socket instead of a TCP one.
//
// The master opens the listening socket once (Listen), or takes it from systemd socket activation, and
// never accepts on it. It starts each worker by executing a program (Exec: by default its own binary,
// os.Executable, with its own arguments) with the socket as an inherited file descriptor. It reaps the
// workers that exit and starts others in their place, kills a worker that stops making progress, reloads
// gracefully on SIGHUP (new workers ready first, then the old ones drain; the listening socket is never
// closed), adds and removes a worker on SIGTTIN and SIGTTOU, and stops gracefully when its context ends
// (Master.Run). Worker is the worker side of the protocol, for a worker written in Go.
//
// # The protocol between master and worker
//
// It is small on purpose: a worker in any language can speak it with a few system calls.
//
// A worker is started with these file descriptors and environment variables:
//
//	fd 3   the listening socket (TCP or UNIX), in listening state         PREFORK_FD=3
//	fd 4   the write end of a pipe that only the master reads             PREFORK_HEARTBEAT_FD=4
//	       the worker's id, a number that is never reused                 PREFORK_WORKER=7
//	       the beat interval, in milliseconds                             PREFORK_BEAT_MS=250
//
// Descriptors from fd 5 on are the application's (Exec.Files), named by the application's own variables.
// The socket's file status flags, O_NONBLOCK among them, belong to the one open socket that every process
// shares: a worker must expect a non-blocking socket, whose accept may fail with EAGAIN when another
// process took the connection first.
//
// On fd 4 the worker writes one byte 'R' once it is ready to serve (it has loaded the application and
// accepts), then one byte '.' every beat interval while it is making progress. A worker is making progress
// when no request it is serving has been running for longer than one beat interval: Worker.Begin and
// Worker.End mark a request, and a request longer than that stops the beats. The master kills a worker it
// has not heard from (neither 'R' nor '.') for its timeout, with SIGABRT and then SIGKILL, so a request gets
// the timeout, plus at most one beat, before its worker is killed. This is gunicorn's sync worker, which
// notifies its arbiter between requests only: a request longer than `timeout` is killed ("WORKER TIMEOUT
// (pid:N)"). In gunicorn's gthread worker the main loop notifies while request threads run, so a hung
// request does not stop the notifications; in Go, a goroutine that beats on a timer would beat through a
// hung request the same way, hence the rule. (Counting "longer than a beat" rather than "longer than the
// timeout" needs no second number in the worker, and kills a hung request after the timeout, not twice it.)
//
// A worker that exits before writing 'R' failed to boot, unless the master had told it to stop. Several such
// failures in a row (Config.BootFailures) stop the master with an error rather than a loop of forks, as
// gunicorn halts with "Worker failed to boot"; during a reload they abandon the new workers, and the old ones
// go on serving.
//
// A reload (SIGHUP) starts a new generation of workers and stops the old one once every new worker is ready.
// Until then the old generation serves: a worker of it that exits is not replaced, SIGTTIN and SIGTTOU change
// the size of the new generation, and only the new generation's boot failures count. A second SIGHUP
// supersedes the reload under way: its workers are stopped at once, and the last complete generation serves
// until the newest is complete, or on, if the newest cannot boot. A worker told to stop has ShutdownTimeout
// to exit, and is no longer killed for its silence; a worker's boot counts against Timeout.
//
// A worker stops gracefully on SIGTERM: it stops accepting (closes its copy of the socket, which stays open
// in the other processes, so no connection queued in the kernel is lost), finishes the requests in flight,
// closes its idle connections and exits. It does the same when it notices that the master is gone: its beat
// write fails with EPIPE (no process holds the read end any more), or getppid no longer returns the master's
// pid (the worker was re-parented). A worker may also exit by itself, after serving a number of requests
// (-max-requests); the master starts another in its place.
//
// # Why exec, and not fork
//
// gunicorn's arbiter calls os.fork(): the child is a copy of the master, with the application already
// imported when preload_app is on (its memory shared copy-on-write), and with every socket and open file of
// the master, such as a database connection opened at import time, which two processes then use at once
// (gunicorn#1953). A Go program cannot fork without exec: fork copies only the calling thread, and a Go
// program always runs several (the scheduler's, the garbage collector's, the network poller's), whose locks
// and state the child would inherit half-way (golang/go#227). So a Go master starts each worker with
// fork and exec together (os/exec, which uses clone and execve) and passes it only what it names: the
// socket, the pipe, the environment. Every worker builds its own state from scratch; nothing is copied, and
// nothing leaks from the master.
package prefork
