package main

import (
	"context"
	"log"
	"sync"
	"time"

	"course/chapters/gateway"
	"course/chapters/launch"
	"course/chapters/pool"
)

// serve listens on cfg.Addr and serves every connection on a goroutine of its own, which runs the app once one
// of the pool's workers is free, until ctx is cancelled; then it lets the requests in flight finish.
func serve(ctx context.Context, cfg *launch.Config, pc *launch.PoolConfig, app gateway.App) error {
	ln, gw, err := launch.Listen(ctx, cfg)
	if err != nil {
		return err
	}
	log.Printf("threaded server listening on %s: %d workers, a queue of %d", ln.Addr(), pc.Workers, pc.Queue)
	// The app runs on several workers at once, and must be told (wsgi.multithread).
	gw.MultiThread = true

	workers := pool.NewLimiter(pool.Config{
		Workers:      pc.Workers,
		Queue:        pc.Queue,
		QueueTimeout: pc.QueueTimeout,
		RunTimeout:   pc.RequestTimeout,
	})
	conns := cfg.HTTP1(gw, app)
	conns.Answer = pool.Answer(workers, gw, app) // 503 when full, 504 when too slow

	var wg sync.WaitGroup
	for {
		conn, err := launch.Accept(ctx, ln)
		if err != nil {
			break // the server is stopping
		}
		// A goroutine per connection: it costs a few KiB while the connection is idle, and
		// holds no worker.
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns.ServeConn(ctx, conn)
		}()
	}

	// Shutting down: the listener is closed and idle connections close at once (ServeConn sees ctx);
	// requests in flight get ShutdownTimeout to finish.
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(pc.ShutdownTimeout):
		log.Printf("shutdown: requests still in flight after %v; exiting anyway",
			pc.ShutdownTimeout)
	}
	stop, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := workers.Close(stop); err != nil {
		log.Printf("shutdown: closing the worker pool: %v", err)
	}
	return nil
}
