package main

import (
	"context"
	"errors"

	"course/chapters/pool"
)

// workerPool runs the application for the connections' goroutines: cfg.Workers worker goroutines, started
// once, take jobs from a queue in which at most cfg.Queue jobs wait for a worker. It is the structure of
// waitress, gunicorn's gthread worker and mod_wsgi's daemon processes; in Python, a queue.Queue(maxsize=Q)
// and W threads that loop on its get(). A connection's goroutine calls Do with the work of one request (run
// the app, write the response) and waits for it; pool.Answer turns Do's errors into responses (README: "The
// design").
type workerPool struct {
	cfg pool.Config
	// TODO(step 2): what the workers and the callers of Do share.
}

// newPool checks cfg and starts cfg.Workers workers.
//
// Step 2 (README: "Step 2: workers and a bounded queue"). It fails if cfg.Workers is less than 1 or
// cfg.Queue is negative: a server should refuse such flags rather than guess what they mean.
func newPool(cfg pool.Config) (*workerPool, error) {
	// TODO(step 2): as written, the server runs, and every request is answered 503 with Do's error.
	return &workerPool{cfg: cfg}, nil
}

// Do hands fn, the work of one request, to a worker, waits until fn has returned, and returns nil. It may be
// called from any number of goroutines at once.
//
// Step 2 (README: "Step 2: workers and a bounded queue"):
//   - fn runs on one of the pool's worker goroutines, never on the goroutine that called Do, and at most
//     cfg.Workers jobs run at once;
//   - jobs wait for a worker in the order Do was called: first in, first out;
//   - the pool holds at most cfg.Workers + cfg.Queue jobs, running or waiting. When it holds that many, Do
//     fails at once with pool.ErrFull (a 503), without waiting for room.
//
// Step 3 (README: "Step 3: the queue timeout"):
//   - a job that has waited cfg.QueueTimeout for a worker (if it is positive) is not run: Do returns
//     pool.ErrQueueTimeout (a 503) the moment the time is up, even while every worker is still busy, and
//     the job leaves the queue: its room is free for another;
//   - likewise, when ctx is done before fn starts, fn is not run and Do returns ctx.Err().
//
// Step 4 (README: "Step 4: the run timeout"):
//   - a job that has run for cfg.RunTimeout (if it is positive) is abandoned: the pool counts it out of the
//     jobs it holds and starts a new worker in its place; then it calls late (not nil: pool.Answer's writes
//     the 504) from a goroutine other than fn's, and Do returns pool.ErrRunTimeout. fn runs on until it
//     returns (Go cannot stop a goroutine), and then its worker leaves: another has taken its place;
//   - the timeout and fn's return decide a job's fate once: late is never called for a job that returned
//     in time, and an abandoned job never gives its worker back.
//
// Step 5 (README: "Step 5: graceful shutdown"): once Close has been called, Do fails with pool.ErrClosed.
func (p *workerPool) Do(ctx context.Context, fn func(), late func()) error {
	// TODO(step 2, then steps 3, 4 and 5).
	return errors.New("step 2, the worker pool (pool.go), is not written yet")
}

// Stats reports the jobs the pool holds: those running (Busy) and those waiting for a worker (Queued), from
// step 2 on; and from step 4, those abandoned that still run (Abandoned), which it no longer holds. The tests
// wait on it; it may be called from any goroutine.
func (p *workerPool) Stats() pool.Stats {
	// TODO(step 2, then step 4).
	return pool.Stats{}
}

// Close stops the pool: the jobs waiting for a worker are not run (their Do returns pool.ErrClosed), nor are
// the jobs that come after, and each worker leaves once its job is done. Close waits until the jobs running
// have ended, and returns nil; or it returns ctx's error if ctx is done first. It does not wait for abandoned
// jobs. It is called once.
//
// Step 5 (README: "Step 5: graceful shutdown").
func (p *workerPool) Close(ctx context.Context) error {
	// TODO(step 5).
	return errors.New("step 5, Close (pool.go), is not written yet")
}

// The server hands the pool to pool.Answer, which takes any pool.Runner.
var _ pool.Runner = (*workerPool)(nil)
