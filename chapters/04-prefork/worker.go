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
	// TODO (step 7): tell the app how it runs (README: "What the app is told"): set gw.MultiProcess, true
	// when another process may run the app at the same time, and gw.MultiThread, true when another thread
	// of this process may.
	c, err := openCounter(counter)
	if err != nil {
		return err
	}
	return launch.ServeWorker(ctx, cfg, pc, w, ln, gw, app.New(app.Options{Worker: w.ID, Counter: c}))
}
