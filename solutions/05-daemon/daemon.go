package main

import (
	"context"
	"net"
	"os"
	"time"

	"course/chapters/daemon"
	"course/chapters/gateway"
	"course/chapters/launch"
)

// The reference answer to steps 5 to 7 (the daemon's side) is package daemon's Server and QueueTime.

// daemonProcess is a Go daemon: it serves the requests of the group's socket with its app.
type daemonProcess struct {
	srv *daemon.Server
}

// newDaemonProcess returns the daemon that serves app as dc says.
func newDaemonProcess(dc *launch.DaemonConfig, app gateway.App) *daemonProcess {
	return &daemonProcess{&daemon.Server{
		App: app,
		// Tell the app the truth: other threads of this process run it at the same time when -threads is
		// above 1, other processes when -processes is (mod_wsgi's rule).
		Gateway:         gateway.Server{MultiThread: dc.Threads > 1, MultiProcess: dc.Processes > 1, Errors: os.Stderr},
		Threads:         dc.Threads,
		QueueTimeout:    dc.QueueTimeout,
		RequestTimeout:  dc.RequestTimeout,
		SocketTimeout:   dc.SocketTimeout,
		ShutdownTimeout: dc.ShutdownTimeout,
		MaxRequests:     dc.MaximumRequests,
	}}
}

// serve serves the group's socket ln until ctx is done or the daemon must restart.
func (d *daemonProcess) serve(ctx context.Context, ln net.Listener, ready func() error) error {
	if err := ready(); err != nil {
		return err
	}
	return d.srv.Serve(ctx, ln)
}

// queued returns how long the request env has waited at now, from the front end's stamp.
func queued(env *gateway.Environ, now time.Time) (time.Duration, bool) {
	return daemon.QueueTime(env, now)
}
