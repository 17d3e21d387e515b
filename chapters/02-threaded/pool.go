package main

import (
	"context"
	"errors"

	"course/chapters/pool"
)

// workerPool bounds how many requests run the app at once, with a bounded queue of the requests waiting for
// their turn: the request queue of this server. Its workers are places, not goroutines: a connection's
// goroutine that holds one of the cfg.Workers places runs the app itself, and gives the place back when the
// app returns. A connection's goroutine calls Do with the work of one request (run the app, write the
// response), and the pool runs it, or says why it will not, with the errors of chapters/pool that
// pool.Answer turns into responses:
//
//   - at most cfg.Workers jobs run at once (abandoned ones aside, below);
//   - at most cfg.Queue jobs wait for a place; when the queue is full, Do fails at once with pool.ErrFull
//     (503), without waiting for room;
//   - a job that waited for a place longer than cfg.QueueTimeout (if positive) is not run, and Do returns
//     pool.ErrQueueTimeout (503);
//   - a job that runs longer than cfg.RunTimeout (if positive) is abandoned: the pool calls the job's late
//     function as soon as the run timeout has passed, from a goroutine other than the one running the job
//     (pool.Answer's late writes the 504), and gives the job's place to the next job. Go cannot stop a
//     goroutine from the outside, so this is the only way to keep cfg.Workers places for the other requests.
//     Do returns pool.ErrRunTimeout when the job ends;
//   - once Close is called, Do returns pool.ErrClosed (503).
//
// Do and Close are called from many goroutines at once: run the server with `go run -race` to find the
// data races.
type workerPool struct {
	cfg pool.Config
	// TODO: what the callers of Do share. For instance: the places, a buffered channel with room for
	// cfg.Workers, full at the start (a receive takes a place, and blocks while there is none; a send gives
	// it back); a count of the jobs held, waiting or running, abandoned ones not counted (sync/atomic), for
	// the bound on the queue; a channel that Close closes.
}

// errNotWritten is what the starter's pool answers until you write it.
var errNotWritten = errors.New("the worker pool is not written yet: see the TODOs in pool.go")

// newPool returns a pool of cfg.Workers places with a queue of cfg.Queue jobs. It fails if cfg.Workers is
// less than 1 or cfg.Queue is negative: a server should refuse such flags rather than guess.
func newPool(cfg pool.Config) (*workerPool, error) {
	// TODO: check cfg and make what the pool shares.
	return nil, errNotWritten
}

// Do runs fn on the calling goroutine once one of the places is free, and returns nil when fn returns. It
// returns without running fn when the queue is full (pool.ErrFull, at once), when fn waited too long for a
// place (pool.ErrQueueTimeout), or when the pool is closed (pool.ErrClosed). When fn runs past the run
// timeout, late is called at once, from another goroutine, the place goes to the next job, and Do returns
// pool.ErrRunTimeout once fn has returned. When ctx is done before fn starts, fn is not run and Do returns
// ctx's error (the server passes context.Background(); this is for other callers).
func (p *workerPool) Do(ctx context.Context, fn func(), late func()) error {
	// TODO: fail with pool.ErrClosed if the pool is closed; count the job in, or fail with pool.ErrFull if
	// cfg.Workers+cfg.Queue are held already; take a place, at once if one is free, or else waiting in a
	// select with the queue timeout (time.NewTimer; Stop it when done), ctx.Done() and the close; run fn;
	// give the place back; count the job out.
	// A select picks at random among the cases that are ready: when a place and the close both are, check
	// the close again after taking the place, or a job may run after Close.
	// The run timeout: time.AfterFunc(cfg.RunTimeout, ...) started just before fn (and stopped after it)
	// can call late, give the place back and count the job out. Beware the moment when the timer fires just
	// as fn returns: exactly one of them must give the place back and count the job out (an atomic state
	// per job, set with CompareAndSwap, which changes it only if it still holds the old value and says whether
	// it did; or a mutex), or the pool gains or loses a place. An abandoned job holds neither a place nor
	// room in the queue.
	return errNotWritten
}

// Close stops the pool: the jobs waiting for a place are not run (their Do returns pool.ErrClosed), and
// neither are the jobs that come after. Close waits until the jobs running have ended and returns nil, or
// returns ctx's error if ctx is done first; it does not wait for abandoned jobs. It is called once.
func (p *workerPool) Close(ctx context.Context) error {
	// TODO: tell the waiting jobs to give up (close a channel that their select waits on too), then wait for
	// the jobs running: taking back all cfg.Workers places does it. Give up when ctx is done.
	return errNotWritten
}

// The server hands the pool to pool.Answer, which takes any pool.Runner.
var _ pool.Runner = (*workerPool)(nil)
