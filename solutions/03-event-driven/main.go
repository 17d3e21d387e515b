// Command eventdriven is the server of chapter 3: one thread runs an event loop over non-blocking sockets,
// made and watched with system calls (socket, accept4, epoll, read, write through golang.org/x/sys/unix, not
// package net), and a small pool of workers runs the blocking application.
//
// The files, in reading order: loop.go (the loop), conn.go (a connection's state machine), timers.go (the
// deadlines), offload.go (handing the app's calls to the pool, and their responses back), listen.go (the
// listening socket).
package main

import (
	"context"
	"flag"
	"log"
	"strings"
	"time"

	"course/chapters/gateway"
	"course/chapters/launch"
)

func main() {
	pc := launch.RegisterPool(flag.CommandLine) // the pool's flags, as in chapter 2
	launch.Main(launch.Register(flag.CommandLine), func(ctx context.Context, cfg *launch.Config, app gateway.App) error {
		return serve(ctx, cfg, *pc, app)
	})
}

// serve listens on cfg.Addr and serves app until ctx is cancelled and the connections are closed.
func serve(ctx context.Context, cfg *launch.Config, pc launch.PoolConfig, app gateway.App) error {
	l, err := newLoop(cfg, pc, app)
	if err != nil {
		return err
	}
	if err := l.listen(cfg.Addr); err != nil {
		l.shutdown()
		return err
	}
	host := cfg.Addr[:strings.LastIndexByte(cfg.Addr, ':')] // listen checked the address: "[::1]" stays whole
	log.Printf("event-driven server listening on %s:%s (%d workers, queue %d)", host, l.gw.Port, pc.Workers, pc.Queue)
	// The one goroutine besides the loop and the workers: it turns the cancellation into a write to the
	// loop's eventfd, since the loop, asleep in epoll_wait, cannot wait on a channel too.
	stop := context.AfterFunc(ctx, l.requestStop)
	defer stop()
	err = l.run()
	// Workers still running an app (a long /sleep) are not waited for long: the connections are closed.
	closing, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.pool.Close(closing)
	return err
}
