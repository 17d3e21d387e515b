package main

import (
	"context"

	"course/chapters/app"
	"course/chapters/launch"
	"course/chapters/prefork"
)

// serveWorker is a worker process: it serves the app on the socket it inherited, until ctx is cancelled
// (SIGTERM from the master), the master is gone, or it has served -max-requests.
func serveWorker(ctx context.Context, cfg *launch.Config, pc *launch.PreforkConfig, counter string, w *prefork.Worker) error {
	ln, gw, err := launch.Inherited(w)
	if err != nil {
		return err
	}
	// Tell the app how it runs: another process may run it at the same time when there are several
	// workers (gunicorn: "wsgi.multiprocess": cfg.workers > 1), another thread of this one when a worker
	// runs several requests at once.
	gw.MultiProcess = pc.Workers > 1
	gw.MultiThread = pc.Threads > 1
	c, err := openCounter(counter)
	if err != nil {
		return err
	}
	return launch.ServeWorker(ctx, cfg, pc, w, ln, gw, app.New(app.Options{Worker: w.ID, Counter: c}))
}
