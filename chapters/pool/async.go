package pool

import "context"

// Go runs fn on a worker as Do does, without making the caller wait: done gets what Do would return, once fn
// has returned or the pool has given up on it (it was not run, or it ran past RunTimeout). It is for a caller
// that must never block, such as chapter 3's event loop.
//
// Unlike Do, Go has nobody waiting with a timer: a job that waited in the queue longer than QueueTimeout is
// found out when a worker takes it, and is then not run (ErrQueueTimeout). With every worker stuck, that may
// be as late as RunTimeout, when the watchdog replaces them.
//
// done runs on the worker that took the job, or on the pool's watchdog, or, when the job is refused at once
// (ErrFull, ErrClosed), on the caller's goroutine before Go returns. It must not block for long.
func (p *Pool) Go(ctx context.Context, fn func(), done func(error)) {
	if ctx.Done() != nil {
		// A context to watch needs someone to wait for the job: a goroutine, in the caller's place.
		go func() { done(p.Do(ctx, fn)) }()
		return
	}
	select {
	case <-p.done:
		done(ErrClosed)
		return
	default:
	}
	if p.held.Add(1) > int64(p.cfg.Workers+p.cfg.Queue) {
		p.held.Add(-1)
		done(ErrFull)
		return
	}
	j := jobs.Get().(*job)
	j.fn, j.done, j.enqueued = fn, done, now()
	j.state.Store(queued)
	select {
	case p.queue <- j:
	default: // the channel is full of jobs given up on that no worker has taken yet
		p.held.Add(-1)
		j.fn, j.done = nil, nil
		jobs.Put(j)
		done(ErrFull)
		return
	}
	// Close may have emptied the queue between the check above and the send (see Do).
	select {
	case <-p.done:
		if j.state.CompareAndSwap(queued, abandoned) {
			p.held.Add(-1)
			done(ErrClosed)
		}
	default:
	}
}
