package main

import (
	"net"
	"time"

	"course/chapters/gateway"
)

// Steps 3 and 6: the hand-off, the front end's side (README: "Step 3: the hand-off").

// hop is the front end's application: it hands each request to the daemons.
type hop struct {
	socket         string        // the daemon group's socket
	connectTimeout time.Duration // -connect-timeout (step 6)
	socketTimeout  time.Duration // -socket-timeout (step 6)
}

// app is what the front end's server runs for every request, as if it were the application: it passes the
// request to a daemon and streams the daemon's answer back.
//
// Step 3: stamp the request with the time it starts to wait (stamp, below), connect to h.socket (dial,
// below), send the request (writeRequest), read the head of the answer (readResponse), and pass its status
// and header fields to start. Return a body (gateway.Func(next, close) makes one) whose next returns what
// the daemon sends as it comes, one read of the connection at a time, not all of it at the end, and
// io.EOF when the daemon has closed the connection; and whose close closes the connection to the daemon.
// The gateway calls close when the client has the whole body, and also when the client went away: the daemon
// then sees its writes fail, and stops. Close the connection too when app fails before it returns a body.
// An answer the daemon could not give (readResponse failed: its own 502, or an error of the connection such
// as a reset) is an error whose status is 502.
//
// Step 6: a daemon that stops talking must not hold the front end for ever: before each read and each write
// on the connection to the daemon, set a deadline h.socketTimeout away (when it is not zero). A read that
// times out while waiting for the head (readResponse returns that error as it is: isTimeout tells it) is an
// error whose status is 504 (Gateway Timeout); one that times out in the body is an error of next, which
// makes the gateway cut the response short.
func (h *hop) app(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	// TODO (step 3; step 6 adds the socket timeout)
	return nil, notWritten(3, "app in hop.go")
}

// dial connects to the daemon group's socket.
//
// Step 6: while the group's queue is full, connecting fails at once with syscall.EAGAIN; while nobody
// listens, with syscall.ECONNREFUSED. Then wait a little (a few milliseconds at first, more as the tries go
// on, 100 ms at most) and try again, until timeout has passed since the first try; then return an error whose
// status is 503 (Service Unavailable), which says that no daemon took the request within the connect
// timeout. Any other error is a 503 at once.
func dial(socket string, timeout time.Duration) (net.Conn, error) {
	// TODO (step 6): try again while the queue is full.
	return net.Dial("unix", socket)
}

// stamp records in env the time now, when the request starts to wait for a daemon, as the daemon's queue
// timeout needs it (step 6): the variable HTTP_X_REQUEST_START (the X-Request-Start header field) set to
// "t=" and the microseconds since the epoch (now.UnixMicro()). Whatever the client sent under that name is
// replaced: a client must not decide how long its request has waited.
func stamp(env *gateway.Environ, now time.Time) {
	// TODO (step 6)
}
