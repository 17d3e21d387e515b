package pool

import (
	"context"
	"sync"
	"time"
)

// Limiter runs jobs on their callers' own goroutines, at most Workers at once, with a bounded queue of callers
// waiting for their turn: a pool whose workers are places rather than goroutines. It is chapter 2's reference
// answer. A server whose connections each have a goroutine already needs no other goroutine to run the app:
// handing each request to one and back costs two goroutine switches, the larger part of what a Pool adds to a
// hello world. An event loop, which must not block, needs a Pool.
//
// The rules are a Pool's: ErrFull beyond Workers+Queue jobs held, ErrQueueTimeout for a job that waited too
// long, ErrClosed once closed. A job that runs past RunTimeout cannot return early, since it runs on the
// caller's goroutine: the watchdog calls its late function at once (for the server's 504) and gives its place
// to the next job, and Do returns ErrRunTimeout when the job ends.
type Limiter struct {
	gate
	free   chan *place // the places no job holds; a caller waits here for its turn, first come first served
	places []*place    // every place in use, the watchdog's alone once it runs (one given up on is replaced)
}

// place is one of the Workers places of a Limiter: what the watchdog sees of the job that holds it.
type place struct {
	mu      sync.Mutex
	running bool
	over    bool          // the watchdog gave up on the job: the place is retired
	started time.Duration // on the clock of now
	late    func()
}

// NewLimiter returns a Limiter with cfg.Workers places (at least 1) and a queue of cfg.Queue.
func NewLimiter(cfg Config) *Limiter {
	l := &Limiter{}
	l.init(cfg)
	l.free = make(chan *place, l.cfg.Workers)
	for range l.cfg.Workers {
		s := &place{}
		l.places = append(l.places, s)
		l.free <- s
	}
	if l.dog != nil {
		go l.watch()
	}
	return l
}

// Do runs fn on the calling goroutine once fewer than Workers jobs run, and returns nil when fn returns. It
// fails at once with ErrFull when Workers+Queue jobs are held already, with ErrQueueTimeout when fn waited
// QueueTimeout for its turn, with ErrClosed once the limiter is closed, and with ctx's error when ctx is done
// first: fn is then not run. When fn runs past RunTimeout, late is called (on another goroutine) and the next
// job may start; Do returns ErrRunTimeout once fn returns.
func (l *Limiter) Do(ctx context.Context, fn func(), late func()) error {
	if _, err := l.admit(); err != nil {
		return err
	}
	s, err := l.wait(ctx)
	if err != nil {
		l.held.Add(-1)
		return err
	}
	s.begin(late)
	fn()
	if s.end() {
		l.free <- s // never blocks: the channel has room for every place
		l.held.Add(-1)
		return nil
	}
	l.abandoned.Add(-1) // the watchdog has put a new place in s's
	return ErrRunTimeout
}

// wait takes a free place, waiting for one in the queue when there is none.
func (l *Limiter) wait(ctx context.Context) (*place, error) {
	var s *place
	select {
	case s = <-l.free: // the common case: no timer, no select on the rest
	default:
		var tick <-chan time.Time
		if l.cfg.QueueTimeout > 0 {
			t := time.NewTimer(l.cfg.QueueTimeout)
			defer t.Stop()
			tick = t.C
		}
		select {
		case s = <-l.free:
		case <-tick:
			return nil, ErrQueueTimeout
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-l.done:
			return nil, ErrClosed
		}
	}
	if l.isClosed() { // a select picks at random among the ready cases: closed wins over a free place
		l.free <- s
		return nil, ErrClosed
	}
	return s, nil
}

// begin marks s as running a job since now, with late to call if it runs too long.
func (s *place) begin(late func()) {
	s.mu.Lock()
	s.running, s.started, s.late = true, now(), late
	s.mu.Unlock()
}

// end marks s as free, and reports false if the watchdog gave up on its job first.
func (s *place) end() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running, s.late = false, nil
	return !s.over
}

// overdue gives up on the job that holds s if it has run for limit by t, and returns its late function (a
// no-op if it has none); nil means s is not overdue.
func (s *place) overdue(t, limit time.Duration) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running || s.over || t-s.started < limit {
		return nil
	}
	s.over = true
	if s.late == nil {
		return func() {}
	}
	return s.late
}

// watch gives up on the jobs that run longer than RunTimeout, looking at every place each period while the
// limiter holds a job, and replaces each one's place with a fresh one, until the limiter is closed and holds
// none.
func (l *Limiter) watch() {
	l.dog.run(l.idle, l.done, func() {
		var late []func()
		t := now()
		for i, s := range l.places {
			if f := s.overdue(t, l.cfg.RunTimeout); f != nil {
				late = append(late, f)
				fresh := &place{}
				l.places[i] = fresh
				l.abandoned.Add(1)
				l.held.Add(-1)
				l.free <- fresh
			}
		}
		for _, f := range late {
			go f() // a 504 to write, which may take a while if the client does not read: not on the watchdog
		}
	})
}

// Stats returns how busy the limiter is.
func (l *Limiter) Stats() Stats { return l.stats(int64(l.cfg.Workers - len(l.free))) }

// Close makes Do fail with ErrClosed from now on, the callers waiting in the queue too, and waits until the
// jobs running end (abandoned ones aside), or until ctx is done.
func (l *Limiter) Close(ctx context.Context) error {
	close(l.done)
	for range l.cfg.Workers {
		select {
		case <-l.free: // a place whose job has ended; none is given back after this
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}
