// Command daemon is the server of chapter 5: a front end that runs no application. It hands each request,
// over a UNIX socket, to a group of daemon processes that do, as mod_wsgi's daemon mode does in Apache: Go
// daemons (this program, started again) or Python ones (daemon.py, running a WSGI application). Chapter 4's
// master starts the daemons, replaces those that exit, reloads them on SIGHUP and stops them on SIGTERM.
package main

import (
	"context"
	"flag"

	"course/chapters/launch"
	"course/chapters/prefork"
)

func main() {
	cfg := launch.Register(flag.CommandLine)
	dc := launch.RegisterDaemon(flag.CommandLine)
	// The front end is the master; a Go daemon is this program started again by it. No settings file.
	launch.Prefork(&launch.PreforkConfig{},
		func(ctx context.Context) error { return serveFront(ctx, cfg, dc) },
		func(ctx context.Context, w *prefork.Worker) error { return serveDaemon(ctx, dc, w) })
}
