package main

import (
	"context"
	"net"
	"time"

	"course/chapters/launch"
)

// serveConns accepts the connections that arrive on ln and calls handle with each, until ln fails, which it
// does when ctx is cancelled (launch.Listen closes ln then) or when ln is closed otherwise.
//
// Step 1 (README: "Step 1: a goroutine per connection"):
//   - run handle for each connection on a goroutine of its own, so that the loop is back in Accept at once:
//     a connection that is slow, or idle between two requests, holds its goroutine and nothing else;
//   - accept with launch.Accept, chapter 1's answer: it fails only when the server stops or ln was closed,
//     and pauses on errors such as EMFILE;
//   - once Accept has failed, wait until every handle has returned, then return nil if ctx was cancelled (a
//     clean stop), or Accept's error if it was not. Keep count of the handlers running: a sync.WaitGroup.
//
// Step 5 (README: "Step 5: graceful shutdown"): wait for the handlers at most grace. If some are still
// running then, log it and return without them: whoever sent SIGTERM will not wait forever. When they all
// return sooner, return at once.
func serveConns(ctx context.Context, ln net.Listener, handle func(net.Conn), grace time.Duration) error {
	// TODO(step 1, then step 5): as written, this is chapter 1's loop: while one connection is served, the
	// next ones wait in the listen backlog.
	for {
		conn, err := launch.Accept(ctx, ln)
		if err != nil {
			if ctx.Err() != nil {
				return nil // the server is stopping
			}
			return err
		}
		handle(conn)
	}
}
