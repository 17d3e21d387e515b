package pool

import "context"

// Go runs fn on a worker as Do does, without making the caller wait: done gets what Do would return, once fn
// has returned or the pool has given up on it (it was not run, or it ran past RunTimeout). It is for a caller
// that must never block, such as chapter 3's event loop.
//
// A job that waits in the queue longer than QueueTimeout is not run: done gets ErrQueueTimeout as soon as the
// time is up, from a timer armed when the job was queued behind busy workers (a job that finds a free worker
// is taken at once).
//
// done runs on the worker that took the job, on the pool's watchdog or on the queue timeout's timer, or, when
// the job is refused at once (ErrFull, ErrClosed), on the caller's goroutine before Go returns. It must not
// block for long.
func (p *Pool) Go(ctx context.Context, fn func(), done func(error)) {
	if ctx.Done() != nil {
		// A context to watch needs someone to wait for the job: a goroutine, in the caller's place.
		go func() { done(p.Do(ctx, fn, nil)) }()
		return
	}
	// A job refused at once (ErrClosed, ErrFull) is answered here; a queued one is the pool's, which calls
	// done when a worker has run it, or the watchdog or Close has given up on it.
	if _, _, err := p.enqueue(fn, nil, done); err != nil {
		done(err)
	}
}
