// Package pool runs jobs on a fixed number of workers fed by a bounded queue: the request queue of a threaded
// server, with the answers a server gives when it is full. It has two kinds of pool with the same rules:
//
//   - a Limiter runs each job on its caller's goroutine, at most Workers at once: chapter 2's reference
//     answer, where the caller is the connection's goroutine, which has nothing else to do meanwhile;
//   - a Pool runs jobs on Workers goroutines of its own, and its Go method hands a job over without waiting
//     for it: for chapter 3's event loop, which must never wait.
//
// A job waits in the queue at most QueueTimeout, then runs for at most RunTimeout. Go cannot stop a goroutine
// from the outside, so a job that overruns is abandoned, not killed: its late function is called (a server
// answers 504), and a new worker (a Pool) or a fresh place (a Limiter) takes its place at once, so the pool
// keeps its capacity, while the job runs on until it returns. (gunicorn kills such a worker process; mod_wsgi
// restarts its daemon process.) A watchdog notices the overrun within a tenth of RunTimeout, 100 ms at most.
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

// Pool is a fixed set of worker goroutines and a bounded queue of jobs.
type Pool struct {
	gate
	queue chan *job // a nil job tells a worker to leave
	wg    sync.WaitGroup

	mu      sync.Mutex           // guards workers
	workers map[*worker]struct{} // for the watchdog, which looks at what each runs

	busy atomic.Int64 // workers running a job (not an abandoned one)
}

// job states
const (
	queued int32 = iota
	running
	finished
	abandoned
)

type job struct {
	fn       func()
	late     func()        // Do's: called when fn runs past RunTimeout
	enqueued time.Duration // when Do queued it, on the clock of now
	state    atomic.Int32
	ended    chan error  // receives nil when fn returns, or why it was not run
	done     func(error) // for a job of Go: called with what ended would receive
	timer    *time.Timer // Go's queue timeout, armed when every worker was busy
	outside  bool        // held, but waiting to enter the full channel of the queue (see enqueue)
}

// end tells the caller of Do or Go how j ended. Only Do recycles its jobs (outcome): a job of Go may still be
// looked at by the enqueue that queued it, or by its timer, after a worker has ended it.
func (j *job) end(err error) {
	if j.done == nil {
		j.ended <- err
		return
	}
	j.done(err)
}

// drop gives up on j if it is still queued, moving it to state to (finished or abandoned), and counts it out of
// the jobs held: a worker that takes it later skips it. It reports whether j was still queued.
func (p *Pool) drop(j *job, to int32) bool {
	if !j.state.CompareAndSwap(queued, to) {
		return false
	}
	p.held.Add(-1)
	return true
}

// worker is what the watchdog sees of a worker: the job it runs, if any, and since when.
type worker struct {
	mu      sync.Mutex
	job     *job
	started time.Duration
}

// epoch is the origin of now.
var epoch = time.Now()

// now reads the monotonic clock only, which costs half of what time.Now does: it runs several times a job.
func now() time.Duration { return time.Since(epoch) }

// New starts a pool of cfg.Workers workers.
func New(cfg Config) *Pool {
	p := &Pool{workers: make(map[*worker]struct{})}
	p.init(cfg)
	// Room for every job that may be held: a free worker may be a moment away from the channel, and the job
	// must not be refused for that.
	p.queue = make(chan *job, p.cfg.Workers+p.cfg.Queue)
	for range p.cfg.Workers {
		p.startWorker()
	}
	if p.dog != nil {
		go p.watch()
	}
	return p
}

// startWorker adds a worker; work calls wg.Done when it leaves, or the watchdog does for it when its job is
// abandoned.
func (p *Pool) startWorker() {
	w := &worker{}
	p.mu.Lock()
	p.workers[w] = struct{}{}
	p.mu.Unlock()
	p.wg.Add(1)
	go p.work(w)
}

// work runs jobs until it takes a nil job, which Close sends, or until a job it ran was abandoned: then the
// watchdog has already replaced it (and counted it out of the wait group), so it just leaves.
func (p *Pool) work(w *worker) {
	defer func() {
		p.mu.Lock()
		delete(p.workers, w)
		p.mu.Unlock()
	}()
	for {
		// A receive from the queue alone: a select that also waited on p.done would make every worker lock
		// that channel each time it waits.
		j := <-p.queue
		if j == nil {
			p.wg.Done()
			return
		}
		start := now()
		if p.cfg.QueueTimeout > 0 && start-j.enqueued > p.cfg.QueueTimeout {
			// The client has waited too long already: answering fast is better than running late.
			if p.drop(j, finished) {
				j.end(ErrQueueTimeout)
			}
			continue
		}
		w.set(j, start) // before the state says running: the watchdog looks for it then
		if !j.state.CompareAndSwap(queued, running) {
			w.set(nil, 0)
			continue // its caller gave up before it started
		}
		if j.timer != nil {
			j.timer.Stop()
		}
		p.busy.Add(1)
		j.fn()
		w.set(nil, 0) // before the state says finished: once Do has its answer, it reuses j
		if !j.state.CompareAndSwap(running, finished) {
			// The watchdog gave up on it, counted it out of busy and held, and let the pool hold another job in
			// its place.
			p.abandoned.Add(-1)
			return
		}
		p.busy.Add(-1)
		p.held.Add(-1)
		j.end(nil)
	}
}

// set records that w runs j since started, or nothing (a nil j).
func (w *worker) set(j *job, started time.Duration) {
	w.mu.Lock()
	w.job, w.started = j, started
	w.mu.Unlock()
}

// Do runs fn on a worker and waits until it returns. It fails at once with ErrFull when the queue is full,
// with ErrQueueTimeout as soon as fn has waited QueueTimeout for a worker (fn is not run), and with
// ErrRunTimeout when fn runs too long: late (if not nil) is called, then Do returns, and fn goes on running,
// abandoned. ctx bounds the wait for a worker: when it is cancelled before fn starts, fn is not run and Do
// returns ctx's error.
func (p *Pool) Do(ctx context.Context, fn func(), late func()) error {
	j, held, err := p.enqueue(fn, late, nil)
	if err != nil {
		return err
	}

	// The run timeout is the watchdog's. The queue timeout is Do's, with a timer, but only when every worker
	// was busy: otherwise a worker takes j at once (and checks the queue timeout itself), and a timer armed
	// and stopped for every job costs more than the rest of the hand-off.
	var tick <-chan time.Time
	if p.cfg.QueueTimeout > 0 && held > int64(p.cfg.Workers) {
		t := time.NewTimer(p.cfg.QueueTimeout)
		defer t.Stop()
		tick = t.C
	}
	cancelled := ctx.Done()
	// While j waits to enter the channel (enqueue), Do sends it, and watches for Close, as enqueue does.
	var entry chan<- *job
	var closed <-chan struct{}
	if j.outside {
		entry, closed = p.queue, p.done
	}
	if tick == nil && cancelled == nil && entry == nil {
		return outcome(j, <-j.ended) // the common case: a receive costs less than a select
	}
	// The first of: the outcome, the queue timeout, ctx, room in the channel, Close.
	for {
		select {
		case entry <- j:
			entry, closed = nil, nil
			if p.missedClose(j) {
				return ErrClosed
			}
		case <-closed:
			if p.drop(j, abandoned) {
				return ErrClosed
			}
		case err := <-j.ended:
			return outcome(j, err)
		case <-cancelled:
			if p.drop(j, abandoned) {
				return context.Cause(ctx)
			}
			cancelled = nil // too late: it runs, and is waited for
		case <-tick:
			if p.drop(j, abandoned) {
				return ErrQueueTimeout
			}
			tick = nil // it runs, under the watchdog's eye
		}
	}
}

// enqueue queues a job for fn (late is Do's, done is Go's) and returns it with the count of jobs the pool then
// holds. It fails at once with ErrClosed or ErrFull, queuing nothing.
func (p *Pool) enqueue(fn, late func(), done func(error)) (*job, int64, error) {
	held, err := p.admit()
	if err != nil {
		return nil, 0, err
	}
	var j *job
	if done == nil {
		j = jobs.Get().(*job)
	} else {
		j = &job{} // not recycled: see end
	}
	j.fn, j.late, j.done, j.enqueued, j.outside = fn, late, done, now(), false
	j.state.Store(queued)
	if done != nil && p.cfg.QueueTimeout > 0 && held > int64(p.cfg.Workers) {
		// Go's caller does not wait, so a timer answers for it, armed only when every worker was busy, as
		// Do's: otherwise a worker takes j at once and checks the queue timeout itself.
		j.timer = time.AfterFunc(p.cfg.QueueTimeout, func() { p.expire(j) })
	}
	select {
	case p.queue <- j:
	default:
		// The channel has room for every job held, but a job given up on (its queue timeout, its caller's
		// ctx) stays in it until a worker takes it and skips it, and every worker is busy. j is held all the
		// same: it waits to enter the channel, behind any other job that waits so (a channel serves its
		// senders in order). Refusing it would shrink the queue by one with each job given up on.
		j.outside = true
		if done != nil {
			go p.push(j) // Go's caller must not wait
		}
		return j, held, nil
	}
	if p.missedClose(j) {
		return nil, 0, ErrClosed
	}
	return j, held, nil
}

// missedClose gives up on j, just sent to the queue, if Close has come meanwhile, and reports whether it did.
// Close may have emptied the queue between the pool's check and the send: then nothing would take j. Waiting
// on p.done after the send would catch it too, but every Do and every worker would then lock that one channel
// each time they wait, which costs more than the job at tens of thousands of jobs a second.
func (p *Pool) missedClose(j *job) bool {
	select {
	case <-p.done:
		return p.drop(j, abandoned)
	default:
		return false
	}
}

// push sends j, a job of Go that waits to enter the channel (enqueue), on a goroutine of its own, and tells
// done if Close comes first.
func (p *Pool) push(j *job) {
	select {
	case p.queue <- j:
		if p.missedClose(j) {
			j.done(ErrClosed)
		}
	case <-p.done:
		if p.drop(j, abandoned) {
			j.done(ErrClosed)
		}
	}
}

// expire gives up on j, a job of Go, when it has waited QueueTimeout in the queue: a worker that takes it later
// skips it.
func (p *Pool) expire(j *job) {
	if p.drop(j, abandoned) {
		j.done(ErrQueueTimeout)
	}
}

// outcome returns err, the outcome of j that Do received, and recycles j unless a worker still runs it.
func outcome(j *job, err error) error {
	if err != ErrRunTimeout {
		// No worker holds j or can find it in the queue any more: it can be reused.
		j.fn, j.late = nil, nil
		jobs.Put(j)
	}
	return err
}

// watch abandons the jobs that run longer than RunTimeout, looking at every worker each period while the pool
// holds a job, until the pool is closed and holds none. One goroutine that wakes up a few times per run timeout
// costs much less than a timer per job, and notices an overrun at most a period late.
func (p *Pool) watch() {
	p.dog.run(p.idle, p.done, func() {
		var over []*job
		t := now()
		p.mu.Lock()
		for w := range p.workers {
			w.mu.Lock()
			// While w holds j, j is the job w runs: it cannot have ended and been reused by another Do.
			if w.job != nil && t-w.started >= p.cfg.RunTimeout && w.job.state.CompareAndSwap(running, abandoned) {
				over = append(over, w.job)
			}
			w.mu.Unlock()
		}
		p.mu.Unlock()
		for _, j := range over {
			p.held.Add(-1)
			p.busy.Add(-1)
			p.abandoned.Add(1)
			p.startWorker() // a new worker takes the place of the abandoned one,
			p.wg.Done()     // which leaves the pool's count
			// late writes a 504, which may take a while if the client does not read: not on the watchdog.
			go func() {
				if j.late != nil {
					j.late()
				}
				j.end(ErrRunTimeout)
			}()
		}
	})
}

// jobs recycles the jobs of Do and their channels: two allocations per job otherwise.
var jobs = sync.Pool{New: func() any { return &job{ended: make(chan error, 1)} }}

// Stats is a snapshot of a pool.
type Stats struct {
	Busy      int // workers running a job
	Queued    int // jobs waiting for a worker
	Abandoned int // abandoned jobs still running
}

// Stats returns how busy the pool is.
func (p *Pool) Stats() Stats { return p.stats(p.busy.Load()) }

// Close stops the workers once they finish their current job; jobs still queued get ErrClosed. It waits for
// the workers until ctx is done (abandoned jobs are not waited for).
func (p *Pool) Close(ctx context.Context) error {
	close(p.done)
drain:
	for {
		select {
		case j := <-p.queue:
			if p.drop(j, finished) {
				j.end(ErrClosed)
			}
		default:
			break drain
		}
	}
	stopped := make(chan struct{})
	go func() {
		// One nil job per worker, behind any job still in flight: each worker takes one and leaves. A worker
		// that replaces an abandoned one takes the nil job meant for it.
		for range p.cfg.Workers {
			p.queue <- nil
		}
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
