package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"course/chapters/app"
	"course/chapters/launch"
	"course/chapters/prefork"
	"course/chapters/wsgi"
)

// serveFront is the front end: it makes the daemon group (its socket, and chapter 4's master running the
// daemons on it), then serves HTTP with chapter 2's server, a goroutine per connection, whose application is
// the hand-off to the daemons. On SIGTERM it stops accepting, lets the requests in flight finish, then stops
// the daemons. It returns an error, and the process exits with status 1, when the daemons fail to boot.
func serveFront(ctx context.Context, cfg *launch.Config, dc *launch.DaemonConfig) error {
	if err := dc.Check(); err != nil {
		return err
	}
	// A folder only this user can enter, for the socket (and daemon.py): whoever can connect to the socket
	// can send the daemons any request, with any CGI variable.
	dir, err := os.MkdirTemp("", "daemon-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "daemon.sock")
	group, err := listenGroup(sock, dc.ListenBacklog)
	if err != nil {
		return err
	}
	defer group.Close()
	spawn, err := spawner(dc, dir, group)
	if err != nil {
		return err
	}

	// The daemons run until the front end has finished its requests: their own context, not ctx.
	daemons, stopDaemons := context.WithCancel(context.Background())
	defer stopDaemons()
	master := prefork.New(prefork.Config{
		Workers:         dc.Processes,
		Timeout:         dc.DeadlockTimeout,
		ShutdownTimeout: dc.ShutdownTimeout,
		// When the front end stops, it has already given its requests -shutdown-timeout; the daemons, which
		// serve those same requests, get a moment more, not the whole time again.
		StopTimeout: time.Second,
		Spawner:     spawn,
		Listener:    group,
	})
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU)
	defer signal.Stop(signals)
	front, stopFront := context.WithCancelCause(ctx)
	defer stopFront(nil)
	// The port first: a port already taken is one clear error, before any daemon starts.
	ln, gw, err := launch.Listen(front, cfg)
	if err != nil {
		return err
	}
	managed := make(chan error, 1)
	go func() {
		err := master.Run(daemons, signals)
		if err != nil {
			stopFront(fmt.Errorf("the daemons: %w", err))
		}
		managed <- err
	}()

	log.Printf("front end listening on %s: -daemon %s, %d processes of %d threads on %s", ln.Addr(), dc.Kind,
		dc.Processes, dc.Threads, sock)
	h := &hop{socket: sock, connectTimeout: dc.ConnectTimeout, socketTimeout: dc.SocketTimeout}
	conns := cfg.HTTP1(gw, h.app)
	var wg sync.WaitGroup
	for {
		conn, err := launch.Accept(front, ln)
		if err != nil {
			break // stopping
		}
		wg.Go(func() { conns.ServeConn(front, conn) })
	}
	if !launch.WaitFor(&wg, dc.ShutdownTimeout) {
		log.Printf("requests still in flight after %v; stopping the daemons anyway", dc.ShutdownTimeout)
	}
	stopDaemons()
	if err := <-managed; err != nil {
		return err
	}
	if why := context.Cause(front); !errors.Is(why, context.Canceled) {
		return why
	}
	return nil
}

// spawner returns what starts the daemons, each with the group's socket: this program again for Go
// daemons, daemon.py (unpacked into dir) for Python ones.
func spawner(dc *launch.DaemonConfig, dir string, group *os.File) (*prefork.Exec, error) {
	e := &prefork.Exec{Listener: group, Beat: prefork.BeatInterval(dc.DeadlockTimeout)}
	if dc.Kind == "python" {
		if err := wsgi.Unpack(dir); err != nil {
			return nil, err
		}
		path, args, env, err := pythonCommand(dc, dir)
		if err != nil {
			return nil, err
		}
		e.Path, e.Args, e.Env = path, args, env
	}
	return e, nil
}

// serveDaemon is a Go daemon process, started by the front end: it serves the test app's requests on the
// group's socket, which it inherited, until the front end tells it to stop (SIGTERM) or is gone.
func serveDaemon(ctx context.Context, dc *launch.DaemonConfig, w *prefork.Worker) error {
	ln, err := w.Listener()
	if err != nil {
		return err
	}
	ctx, cancel := w.Until(ctx)
	defer cancel()
	d := newDaemonProcess(dc, app.New(app.Options{Worker: w.ID}))
	return d.serve(ctx, ln, w.Ready)
}
