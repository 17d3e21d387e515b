package main

import (
	"context"
	"errors"

	"course/chapters/pool"
)

// workerPool runs jobs on a fixed number of workers fed by a bounded queue: the request queue of this server.
// A connection's goroutine calls Do with the work of one request (run the app, write the response), and the
// pool runs it on a worker, or says why it will not, with the errors of chapters/pool that pool.Answer turns
// into responses:
//
//   - at most cfg.Workers jobs run at once (abandoned ones aside, below), each on one of the worker
//     goroutines that newPool starts;
//   - at most cfg.Queue jobs wait for a worker; when the queue is full, Do fails at once with pool.ErrFull
//     (503), without waiting for room;
//   - a job that waited for a worker longer than cfg.QueueTimeout (if positive) is not run, and Do returns
//     pool.ErrQueueTimeout (503);
//   - a job that runs longer than cfg.RunTimeout (if positive) is abandoned: Do returns pool.ErrRunTimeout
//     (504) while the job goes on running, and a new worker takes the place of the one running it, which
//     leaves the pool when the job ends. Go cannot stop a goroutine from the outside, so this is the only way
//     to keep cfg.Workers workers for the other requests;
//   - once Close is called, Do returns pool.ErrClosed (503).
//
// Do and Close are called from many goroutines at once: run the server with `go run -race` to find the
// data races.
type workerPool struct {
	cfg pool.Config
	// TODO: what the pool shares with its workers. For instance: the queue, a buffered channel of jobs with
	// room for cfg.Queue; a channel that Close closes, to tell the workers to leave; a sync.WaitGroup of the
	// workers, for Close to wait on.
}

// errNotWritten is what the starter's pool answers until you write it.
var errNotWritten = errors.New("the worker pool is not written yet: see the TODOs in pool.go")

// newPool returns a pool of cfg.Workers workers, started and waiting for jobs, with a queue of cfg.Queue
// jobs. It fails if cfg.Workers is less than 1 or cfg.Queue is negative: a server should refuse such flags
// rather than guess.
func newPool(cfg pool.Config) (*workerPool, error) {
	// TODO: check cfg, make the queue, and start cfg.Workers worker goroutines. A worker takes the next job
	// from the queue; drops it if it waited longer than cfg.QueueTimeout (its Do then returns
	// pool.ErrQueueTimeout); otherwise runs it and tells its Do that it is done. A worker leaves when the
	// pool is closed, or when the job it has just run was abandoned by its Do (a new worker has taken its
	// place by then).
	return nil, errNotWritten
}

// Do runs fn on a worker and waits until fn returns; then it returns nil. It returns without running fn when
// the queue is full (pool.ErrFull, at once), when fn waited too long for a worker (pool.ErrQueueTimeout), or
// when the pool is closed (pool.ErrClosed). It returns pool.ErrRunTimeout when fn runs too long, leaving fn
// running. When ctx is done before fn starts, fn is not run and Do returns ctx's error (the server passes
// context.Background(); this is for other callers).
func (p *workerPool) Do(ctx context.Context, fn func()) error {
	// TODO: queue a job for fn without waiting (a select with a default case: the queue is full), then wait
	// for it to end, under the run timeout once it has started (time.NewTimer; Stop it when done).
	// On the run timeout, start a new worker. Checking the queue timeout when a worker takes the job is
	// enough to pass; returning as soon as the time is up is better: the client gets its 503 sooner.
	// Beware the moments when Do gives up (queue or run timeout) just as a worker starts or finishes the
	// job: exactly one of them must decide what happens (an atomic state per job, set with
	// CompareAndSwap, or a mutex), or fn runs after its client got a 503, or the pool gains or loses a
	// worker.
	return errNotWritten
}

// Close stops the pool: the jobs still queued are not run (their Do returns pool.ErrClosed), and each worker
// leaves once its current job ends. Close waits for the workers until ctx is done, then returns ctx's error;
// it does not wait for abandoned jobs.
func (p *workerPool) Close(ctx context.Context) error {
	// TODO: tell the workers to stop, answer the queued jobs, and wait for the workers (a WaitGroup) or
	// for ctx, whichever comes first.
	return errNotWritten
}

// The server hands the pool to pool.Answer, which takes any pool.Runner.
var _ pool.Runner = (*workerPool)(nil)
