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
		go func() { done(p.Do(ctx, fn, nil)) }()
		return
	}
	// A job refused at once (ErrClosed, ErrFull) is answered here; a queued one is the pool's, which calls
	// done when a worker has run it, or the watchdog or Close has given up on it.
	if _, _, err := p.enqueue(fn, nil, done); err != nil {
		done(err)
	}
}
