package main

import (
	"context"
	"log"
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

	workers, err := newPool(pool.Config{ // yours: pool.go
		Workers:      pc.Workers,
		Queue:        pc.Queue,
		QueueTimeout: pc.QueueTimeout,
		RunTimeout:   pc.RequestTimeout,
	})
	if err != nil {
		return err
	}
	conns := cfg.HTTP1(gw, app)
	conns.Answer = pool.Answer(workers, gw, app) // 503 when full, 504 when too slow

	for {
		conn, err := launch.Accept(ctx, ln)
		if err != nil {
			break // the server is stopping
		}
		// TODO: a goroutine per connection (the chapter's "One goroutine per connection"). As written, this is
		// chapter 1: the next connection waits in the backlog until this one is done. Run ServeConn on a new
		// goroutine instead, and count the goroutines in a sync.WaitGroup declared before the loop (wg.Add(1)
		// before the go statement, not inside the goroutine; defer wg.Done() inside it), so that the shutdown
		// below can wait for them. The goroutine holds no worker while its connection is idle: the pool is
		// only used while a request is answered.
		conns.ServeConn(ctx, conn)
	}

	// TODO: a graceful shutdown (the chapter's "Graceful shutdown"). The listener is closed, and idle
	// connections close at once (ServeConn sees ctx), but requests in flight must be let finish: wait for
	// the WaitGroup of the connections, for at most pc.ShutdownTimeout. WaitGroup.Wait takes no timeout:
	// call it in a goroutine that closes a channel when it returns, and select on that channel and on
	// time.After(pc.ShutdownTimeout); on the timeout, log that requests are still in flight, and go on.
	stop, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := workers.Close(stop); err != nil {
		log.Printf("shutdown: closing the worker pool: %v", err)
	}
	return nil
}
