package main

import (
	"context"
	"log"
	"net"
	"sync"
	"time"

	"course/chapters/launch"
)

// serveConns accepts the connections that arrive on ln and serves each with handle on a goroutine of its own,
// until ln fails; then it waits for the handlers, at most grace.
func serveConns(ctx context.Context, ln net.Listener, handle func(net.Conn), grace time.Duration) error {
	var wg sync.WaitGroup
	var failed error
	for {
		conn, err := launch.Accept(ctx, ln)
		if err != nil {
			if ctx.Err() == nil {
				failed = err // not a stop: the listener failed
			}
			break
		}
		// A goroutine per connection: a few KiB while the connection is idle, and no
		// worker. Counted before the go statement: counted inside, it might not be yet
		// when Wait is called.
		wg.Add(1)
		go func() {
			defer wg.Done()
			handle(conn)
		}()
	}

	// WaitGroup.Wait takes no timeout: a goroutine waits, and closes done when every
	// handler has returned.
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		log.Printf("shutdown: requests still in flight after %v; exiting anyway",
			grace)
	}
	return failed
}
