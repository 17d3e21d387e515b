// Package pool runs jobs on a fixed number of workers fed by a bounded queue: the request queue of a threaded
// server, with the answers a server gives when it is full.
//
// It is the reference answer to chapter 2, which has the learner write it, and a given package from chapter 3
// on, where the event loop hands its blocking application calls to a pool.
//
// A job waits in the queue at most QueueTimeout, then runs for at most RunTimeout. Go cannot stop a goroutine
// from the outside, so a job that overruns is abandoned, not killed: Do returns ErrRunTimeout, the worker that
// runs it leaves the pool when the job ends, and a new worker takes its place at once, so the pool keeps its
// capacity. (gunicorn kills such a worker process; mod_wsgi restarts its daemon process.)
package pool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by Do. A server answers the first two with 503 Service Unavailable, the last with 504.
var (
	ErrFull         = errors.New("pool: every worker is busy and the queue is full")
	ErrQueueTimeout = errors.New("pool: the job waited in the queue longer than the queue timeout")
	ErrRunTimeout   = errors.New("pool: the job ran longer than the run timeout and was abandoned")
	ErrClosed       = errors.New("pool: closed")
)

// Config sizes a pool.
type Config struct {
	Workers      int           // jobs that run at once
	Queue        int           // jobs that may wait for a worker; beyond, Do fails with ErrFull
	QueueTimeout time.Duration // a job that waited longer is not run (0: no limit)
	RunTimeout   time.Duration // a job that runs longer is abandoned (0: no limit)
}

// Pool is a fixed set of workers and a bounded queue of jobs.
type Pool struct {
	cfg   Config
	queue chan *job
	done  chan struct{} // closed by Close
	wg    sync.WaitGroup

	held      atomic.Int64 // jobs queued or running: at most Workers+Queue
	busy      atomic.Int64 // workers running a job
	abandoned atomic.Int64 // jobs abandoned after RunTimeout that are still running
}

// job states
const (
	queued int32 = iota
	running
	finished
	abandoned
)

type job struct {
	fn        func()
	enqueued  time.Time
	startedAt atomic.Int64 // when a worker started it, in Unix nanoseconds
	state     atomic.Int32
	ended     chan error // receives nil when fn returns, or why it was not run
}

// New starts a pool of cfg.Workers workers.
func New(cfg Config) *Pool {
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	if cfg.Queue < 0 {
		cfg.Queue = 0
	}
	// Room for every job that may be held: a free worker may be a moment away from the channel, and the job
	// must not be refused for that.
	p := &Pool{cfg: cfg, queue: make(chan *job, cfg.Workers+cfg.Queue), done: make(chan struct{})}
	for range cfg.Workers {
		p.startWorker()
	}
	return p
}

// startWorker adds a worker; work calls wg.Done when it leaves, or Do does for it when it is abandoned.
func (p *Pool) startWorker() {
	p.wg.Add(1)
	go p.work()
}

// work runs jobs until the pool closes, or until a job it ran was abandoned: then Do has already replaced it
// (and counted it out of the wait group), so it just leaves.
func (p *Pool) work() {
	for {
		var j *job
		select {
		case j = <-p.queue:
		case <-p.done:
			p.wg.Done()
			return
		}
		if p.cfg.QueueTimeout > 0 && time.Since(j.enqueued) > p.cfg.QueueTimeout {
			// The client has waited too long already: answering fast is better than running late.
			if j.state.CompareAndSwap(queued, finished) {
				p.held.Add(-1)
				j.ended <- ErrQueueTimeout
			}
			continue
		}
		j.startedAt.Store(time.Now().UnixNano()) // before the state says running: Do reads it then
		if !j.state.CompareAndSwap(queued, running) {
			continue // its caller gave up before it started
		}
		p.busy.Add(1)
		j.fn()
		p.busy.Add(-1)
		if !j.state.CompareAndSwap(running, finished) {
			// Do gave up on it and let the pool hold another job in its place.
			p.abandoned.Add(-1)
			return
		}
		p.held.Add(-1)
		j.ended <- nil
	}
}

// Do runs fn on a worker and waits until it returns. It fails at once with ErrFull when the queue is full,
// with ErrQueueTimeout as soon as fn has waited QueueTimeout for a worker (fn is not run), and with
// ErrRunTimeout when fn runs too long (fn goes on running, abandoned). ctx bounds the wait for a worker: when
// it is cancelled before fn starts, fn is not run and Do returns ctx's error.
func (p *Pool) Do(ctx context.Context, fn func()) error {
	j := &job{fn: fn, enqueued: time.Now(), ended: make(chan error, 1)}
	select {
	case <-p.done:
		return ErrClosed
	default:
	}
	if p.held.Add(1) > int64(p.cfg.Workers+p.cfg.Queue) {
		p.held.Add(-1)
		return ErrFull
	}
	select {
	case p.queue <- j:
	default: // the channel is full of jobs given up on that no worker has taken yet
		p.held.Add(-1)
		return ErrFull
	}

	// One timer serves both limits, set to the next moment a limit may pass: Do wakes up only then or when
	// the job ends (each wake-up costs, at tens of thousands of requests a second).
	var t *time.Timer
	var tick <-chan time.Time
	arm := func(d time.Duration) {
		switch {
		case d < 0:
			tick = nil
		case t == nil:
			t = timers.Get().(*time.Timer)
			t.Reset(d)
			tick = t.C
		default:
			t.Reset(d)
			tick = t.C
		}
	}
	defer func() {
		if t != nil {
			t.Stop() // since Go 1.23, a stopped timer's channel holds no stale tick: it can be reused
			timers.Put(t)
		}
	}()
	cancelled, closed := ctx.Done(), p.done
	for {
		d, err, over := p.limits(j)
		if over {
			return err
		}
		arm(d)
		select {
		case err := <-j.ended:
			return err
		case <-cancelled:
			if j.state.CompareAndSwap(queued, abandoned) {
				p.held.Add(-1)
				return context.Cause(ctx) // a worker that takes it from the queue will skip it
			}
			cancelled = nil // too late: it runs, and is waited for
		case <-closed:
			if j.state.CompareAndSwap(queued, abandoned) {
				p.held.Add(-1)
				return ErrClosed
			}
			closed = nil
		case <-tick:
		}
	}
}

// limits checks j against the queue and run timeouts. It gives up on j (over, with the error for Do) when one
// has passed; otherwise it returns how long until one may pass, or -1 when none can.
func (p *Pool) limits(j *job) (time.Duration, error, bool) {
	for {
		switch j.state.Load() {
		case queued:
			if p.cfg.QueueTimeout <= 0 {
				if p.cfg.RunTimeout > 0 {
					return p.cfg.RunTimeout, nil, false // it cannot have run too long before then
				}
				return -1, nil, false
			}
			waited := time.Since(j.enqueued)
			if waited < p.cfg.QueueTimeout {
				// Look again when it may have waited too long, or when, if it starts now, it may have run too long.
				d := p.cfg.QueueTimeout - waited
				if p.cfg.RunTimeout > 0 && p.cfg.RunTimeout < d {
					d = p.cfg.RunTimeout
				}
				return d, nil, false
			}
			if j.state.CompareAndSwap(queued, abandoned) {
				p.held.Add(-1)
				return 0, ErrQueueTimeout, true
			}
		case running:
			if p.cfg.RunTimeout <= 0 {
				return -1, nil, false
			}
			ran := time.Duration(time.Now().UnixNano() - j.startedAt.Load())
			if ran < p.cfg.RunTimeout {
				return p.cfg.RunTimeout - ran, nil, false
			}
			if j.state.CompareAndSwap(running, abandoned) {
				p.held.Add(-1)
				p.abandoned.Add(1)
				p.startWorker() // a new worker takes the place of the abandoned one,
				p.wg.Done()     // which leaves the pool's count
				return 0, ErrRunTimeout, true
			}
		default: // finished: its outcome is on its way
			return -1, nil, false
		}
		// The state changed as we looked: look again.
	}
}

// timers recycles the timers of Do, one per job otherwise.
var timers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// Stats is a snapshot of a pool.
type Stats struct {
	Busy      int // workers running a job
	Queued    int // jobs waiting for a worker
	Abandoned int // abandoned jobs still running
}

// Stats returns how busy the pool is.
func (p *Pool) Stats() Stats {
	busy := p.busy.Load()
	return Stats{Busy: int(busy), Queued: int(max(p.held.Load()-busy, 0)), Abandoned: int(p.abandoned.Load())}
}

// Close stops the workers once they finish their current job; jobs still queued get ErrClosed. It waits for
// the workers until ctx is done (abandoned jobs are not waited for).
func (p *Pool) Close(ctx context.Context) error {
	close(p.done)
drain:
	for {
		select {
		case j := <-p.queue:
			if j.state.CompareAndSwap(queued, finished) {
				p.held.Add(-1)
				j.ended <- ErrClosed
			}
		default:
			break drain
		}
	}
	stopped := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
