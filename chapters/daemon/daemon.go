// Package daemon is daemon mode, as mod_wsgi's WSGIDaemonProcess and uWSGI run a Python application: the web
// server that faces the clients does not run the application; it hands each request over a UNIX socket to a
// group of daemon processes that do, and that can be sized, restarted and given their own user, memory and
// Python on their own. It is chapter 5's reference answer and the back end that chapter 6 puts a buffering
// front end before.
//
// The group shares one listening socket (Listen), whose backlog is its queue: a daemon thread takes a
// connection from it only when it is free, so requests that find every thread busy wait there, where any
// daemon of the group can take them. The front end's side is Hop, a gateway.App that passes the request on
// in SCGI (package scgi) and streams the daemon's answer back; a daemon's side is Server. Chapter 4's master
// (package prefork) starts the daemons, replaces those that exit, and reloads them on SIGHUP.
//
// Each wait of a request has its limit, as in mod_wsgi:
//
//	front end reads the request
//	  |-- connect: while the queue is full, try again; 503 after ConnectTimeout (Dial)
//	  |-- wait in the queue (the socket's backlog) until a daemon thread accepts
//	  |     a thread that finds the request has waited past QueueTimeout answers 504, the app not run
//	  |-- the app runs; past RequestTimeout, 504, and the daemon restarts (Server)
//	  |-- the answer streams back; a daemon silent for SocketTimeout gets 504, or a cut (Hop)
//	front end answers the client
//
// The start of the wait travels with the request as X-Request-Start: t=<microseconds since the epoch>, the
// convention that Heroku's router and New Relic's agents use, and what mod_wsgi passes as
// mod_wsgi.queue_start (mod_wsgi.c, 4.9.4: set just before the Apache child connects to the daemon).
package daemon

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// RequestStart is the environ key of the time the front end started handing the request over: the
// X-Request-Start header field, which the front end sets and a client cannot.
const RequestStart = "HTTP_X_REQUEST_START"

// statusError is an error that the front end answers with its status (gateway.StatusOf).
type statusError struct {
	code int
	err  error
}

func (e *statusError) Error() string   { return e.err.Error() }
func (e *statusError) Unwrap() error   { return e.err }
func (e *statusError) StatusCode() int { return e.code }

func errorf(code int, format string, args ...any) error {
	return &statusError{code: code, err: fmt.Errorf(format, args...)}
}

// isTimeout reports whether err is a deadline that passed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// timeoutConn bounds each read and each write on a connection, as mod_wsgi's socket-timeout does: a peer
// that keeps talking is never cut off, one that stops for d is. Zero means no bound.
type timeoutConn struct {
	net.Conn
	d time.Duration
}

func (c timeoutConn) Read(p []byte) (int, error) {
	if c.d > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(c.d))
	}
	return c.Conn.Read(p)
}

func (c timeoutConn) Write(p []byte) (int, error) {
	if c.d > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(c.d))
	}
	return c.Conn.Write(p)
}
