// Command threaded is the server of chapter 2: a goroutine per connection reads its requests, and a pool of
// worker goroutines runs the application for them, at most -workers calls at once, with a queue of at most
// -queue requests waiting for a worker.
//
// How the pieces fit, with the step of the chapter's README that writes each:
//
//	main            this file: the flags, and the data the app shares between requests
//	serve           this file: listen, start the pool, serve the connections, stop
//	  serveConns    steps 1 and 5, conns.go: a goroutine per connection, and the wait for them on shutdown
//	  newPool, Do   steps 2 to 4, pool.go: the workers, the bounded queue, the queue and run timeouts
//	  Close         step 5, pool.go: the pool's part of the shutdown
//	  newCounter    step 6, shared.go: the data /counter shares
//	  describe      step 6, shared.go: what the app is told of how it is run (wsgi.multithread)
//	  ServeConn     given, chapter 1's request loop: the requests of one connection
//	  pool.Answer   given: runs each request's work through Do, and turns Do's errors into 503 and 504
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"time"

	"course/chapters/gateway"
	"course/chapters/launch"
	"course/chapters/pool"
)

func main() {
	cfg := launch.Register(flag.CommandLine)
	pc := launch.RegisterPool(flag.CommandLine)
	cfg.Counter = newCounter()
	launch.Main(cfg, func(ctx context.Context, cfg *launch.Config, app gateway.App) error {
		return serve(ctx, cfg, pc, app)
	})
}

// serve listens on cfg.Addr and serves every connection on a goroutine of its own, the app run by the pool's
// workers, until ctx is cancelled; then it lets the requests in flight finish, and stops the pool.
func serve(ctx context.Context, cfg *launch.Config, pc *launch.PoolConfig, app gateway.App) error {
	ln, gw, err := launch.Listen(ctx, cfg)
	if err != nil {
		return err
	}
	limits := pool.Config{
		Workers:      pc.Workers,
		Queue:        pc.Queue,
		QueueTimeout: pc.QueueTimeout,
		RunTimeout:   pc.RequestTimeout,
	}
	workers, err := newPool(limits)
	if err != nil {
		ln.Close()
		return err
	}
	log.Printf("threaded server listening on %s: %d workers, a queue of %d", ln.Addr(), pc.Workers, pc.Queue)
	gw = describe(gw)
	conns := cfg.HTTP1(gw, app)
	conns.Answer = pool.Answer(workers, gw, app) // 503: full or too late; 504: too slow

	err = serveConns(ctx, ln, func(conn net.Conn) { conns.ServeConn(ctx, conn) }, pc.ShutdownTimeout)

	// The pool is closed after the connections, so that the requests still in its queue were served.
	stop, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := workers.Close(stop); err != nil {
		log.Printf("shutdown: closing the worker pool: %v", err)
	}
	return err
}
