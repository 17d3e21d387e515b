package main

import (
	"context"
	"net"
	"os"
	"time"

	"course/chapters/gateway"
	"course/chapters/launch"
)

// Steps 5 to 7: the Go daemon (README: "Step 5: the daemon").

// daemonProcess is a Go daemon: it serves the requests of the group's socket with its app.
type daemonProcess struct {
	app gateway.App
	gw  gateway.Server // what the app is told of the server: its wsgi.* flags, where its errors go
	dc  *launch.DaemonConfig
	// TODO (steps 5 to 7): what the goroutines of serve share: the requests in flight, the requests served,
	// how to tell serve to stop.
}

// newDaemonProcess returns the daemon that serves app as dc says.
func newDaemonProcess(dc *launch.DaemonConfig, app gateway.App) *daemonProcess {
	d := &daemonProcess{app: app, dc: dc, gw: gateway.Server{Errors: os.Stderr}}
	// TODO (step 5): tell the app the truth (README: "What the app is told"): set d.gw.MultiThread, true when
	// another thread of this process may run the app at the same time, and d.gw.MultiProcess, true when
	// another process may.
	return d
}

// serve serves the requests that come on ln, the group's socket, until ctx is done (SIGTERM) or the daemon
// must restart. Each step adds to it:
//
// Step 5: start d.dc.Threads goroutines. Each takes a connection from ln (launch.Accept) only when it is
// free, serves its one request, closes it, and takes the next: the requests that find every goroutine busy
// wait in the socket's queue, where the other daemons of the group can take them. To serve a request, read it
// (scgi.ReadRequest, or scgi.Refuse the connection with the error), and answer it with scgi.Respond, with the
// environ req.Environ(d.gw). Once the goroutines accept, call ready (the master counts on its 'R'). When ctx is
// done, close ln (this process's copy: the queue lives on in the others), let the requests in flight finish
// (d.dc.ShutdownTimeout at most), and return nil.
//
// Step 6: before it runs the app, a goroutine checks how long the request waited (queued, below): longer
// than d.dc.QueueTimeout (when it is not zero), answer 504 (scgi.WriteError) and do not run the app. Read the
// request's body first (io.Copy to io.Discard): a socket closed with bytes unread is reset, and the front end
// would lose the 504.
//
// Step 7: a request that runs longer than d.dc.RequestTimeout (when it is not zero) is answered 504 at that
// moment (time.AfterFunc), unless its response has started, and the daemon restarts: a goroutine cannot be
// stopped, a process can. Only one of the app and the timeout may write to the connection: put something
// between scgi.Respond and the connection that lets the timeout take it (chapter 2's pool.Answer has such a
// guard). Then stop accepting, let the other requests finish (the one that timed out may never end: do not
// wait for it) and return: the process exits, and the master starts another daemon in its place. Do the same
// after d.dc.MaximumRequests requests (when it is not zero), once the last of them is served. And bound each
// read and write on a connection by d.dc.SocketTimeout, as the front end does.
func (d *daemonProcess) serve(ctx context.Context, ln net.Listener, ready func() error) error {
	// TODO (step 5; steps 6 and 7 add to it)
	return notWritten(5, "serve in daemon.go")
}

// queued returns how long the request env has waited at now, from the time the front end stamped in it
// (HTTP_X_REQUEST_START, "t=" and microseconds since the epoch: time.UnixMicro reads them), and false when
// there is no such stamp, or it is not a number.
func queued(env *gateway.Environ, now time.Time) (time.Duration, bool) {
	// TODO (step 6)
	return 0, false
}
