package pool

// Go runs fn on a worker as Do does, without making the caller wait: done gets what Do would return, once fn
// has returned or the pool has given up on it (it was not run, or it ran past RunTimeout). It is for a caller
// that must never block, such as chapter 3's event loop.
//
// A job that waits in the queue longer than QueueTimeout is not run: done gets ErrQueueTimeout as soon as the
// time is up, from a timer armed when the job was queued behind busy workers (a job that finds a free worker
// is taken at once).
//
// done runs on the worker that took the job, on a goroutine of the pool's watchdog (ErrRunTimeout), on the
// queue timeout's timer, on the goroutine that calls Close (ErrClosed, for a job still queued), or, when the
// job is refused at once (ErrFull, ErrClosed), on the caller's goroutine before Go returns. It must not block
// for long.
func (p *Pool) Go(fn func(), done func(error)) {
	// A job refused at once (ErrClosed, ErrFull) is answered here; a queued one is the pool's, which calls
	// done when a worker has run it, or the watchdog or Close has given up on it.
	if _, _, err := p.enqueue(fn, nil, done); err != nil {
		done(err)
	}
}
