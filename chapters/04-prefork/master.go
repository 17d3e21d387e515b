package main

import (
	"context"
	"fmt"
	"os"

	"course/chapters/prefork"
)

// Steps 2 to 6: the master (README: "The master").

// master runs the workers: it starts cfg.Workers of them with cfg.Spawner and keeps that many running.
type master struct {
	cfg prefork.Config
	// TODO (steps 2 to 6): what the master knows of each worker it started (its id, its process, its
	// generation, whether it said it was ready, when it last beat, whether it was told to stop), and of
	// itself (how many workers it wants, which generation is the current one and which the last complete
	// one, the boot failures in a row). One goroutine, run's, owns all of it; the goroutines that watch
	// the workers send it events on a channel.
}

// newMaster returns a master for cfg. Its zero or negative durations and counts take the defaults of
// prefork.Config: prefork.DefaultShutdownTimeout, prefork.DefaultBootFailures.
func newMaster(cfg prefork.Config) *master {
	return &master{cfg: cfg}
}

// run runs the workers until ctx is done, then stops them, and returns nil; it returns an error when the
// workers fail to boot. Each step adds to it (the tests of each step say what failed):
//
// Step 2: start cfg.Workers workers with cfg.Spawner.Spawn, ids 1, 2, 3, ... never reused. For each, a
// goroutine reads its Beats until they end, then calls its Wait (which reaps it), and tells run: a byte
// read, then the exit. When a worker exits, however it exits, start another in its place.
//
// Step 3: when ctx is done, or SIGTERM or SIGINT comes on signals, close cfg.Listener (if not nil), send
// SIGTERM to every worker, wait until all have exited, sending SIGKILL to those still there after
// cfg.ShutdownTimeout, and return nil. (serve.go sends only SIGHUP, SIGTTIN and SIGTTOU on signals, and
// SIGTERM ends ctx; a program that sends every signal on the channel stops the same way.) On SIGTTIN run
// one worker more; on SIGTTOU one fewer, never fewer than one: stop the oldest (the lowest id) with
// SIGTERM, and do not replace it. A worker told to stop that takes longer than cfg.ShutdownTimeout gets
// SIGKILL.
//
// Step 4: a worker that has sent nothing (neither its 'R' nor a '.') for cfg.Timeout (if positive) is
// stuck: log which worker (its id and pid) and why, send it SIGABRT, and SIGKILL a second later if it is
// still there. It is replaced when it exits, as in step 2. Its boot counts: a worker that has not said 'R'
// cfg.Timeout after it started is stuck too. A worker told to stop is not watched for silence any more:
// it has cfg.ShutdownTimeout to finish (step 3).
//
// Step 5: a worker that exits before it said 'R' (prefork.Ready) failed to boot, and so did one that
// Spawn could not start; one that was told to stop before it said 'R' did not fail. After
// cfg.BootFailures failures in a row (a worker that says 'R' resets the count), stop the workers and
// return an error that says that the workers fail to boot: not a loop of forks.
//
// Step 6: on SIGHUP, start cfg.Workers new workers (a new generation) and leave the old ones serving;
// once every new worker has said 'R' (the new generation is complete), send SIGTERM to the old ones, which
// finish their requests and exit. Never close the listener. While a reload is under way:
//
//   - a worker of the old generation that exits is not replaced: the new generation is on its way;
//   - SIGTTIN and SIGTTOU change the size of the new generation: SIGTTOU stops its oldest worker;
//   - the boot failures that count are the new generation's. After cfg.BootFailures in a row, give up the
//     reload: stop the new workers, and keep the old ones, which serve on (and are replaced again when
//     they exit). If no old worker is left serving, return the error of step 5;
//   - a second SIGHUP supersedes the reload: stop its new workers at once, and start another generation.
//     The old generation, the last complete one, serves until the newest is complete, and is the one
//     kept if the newest cannot boot.
func (m *master) run(ctx context.Context, signals <-chan os.Signal) error {
	// TODO (steps 2 to 6)
	return notWritten(2, "run in master.go")
}

// notWritten is what the starter answers until a step is written.
func notWritten(step int, what string) error {
	return fmt.Errorf("step %d is not written yet: see the TODO of %s", step, what)
}
