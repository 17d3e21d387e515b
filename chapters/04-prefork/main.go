// Command prefork is the server of chapter 4: a master process opens the listening socket once and runs
// -workers worker processes, copies of this program that inherit the socket and serve on it. The master
// replaces a worker that dies or hangs, reloads them on SIGHUP, adds or removes one on SIGTTIN or SIGTTOU,
// and stops them all on SIGTERM.
package main

import (
	"context"
	"flag"

	"course/chapters/launch"
	"course/chapters/prefork"
)

func main() {
	cfg := launch.Register(flag.CommandLine)
	pc := launch.RegisterPrefork(flag.CommandLine)
	counter := flag.String("counter", "local", "the data of /counter: local (each worker has its own), file (a file under a lock) or shm (shared memory)")
	launch.Prefork(pc,
		func(ctx context.Context) error { return serveMaster(ctx, cfg, pc, *counter) },
		func(ctx context.Context, w *prefork.Worker) error { return serveWorker(ctx, cfg, pc, *counter, w) })
}
