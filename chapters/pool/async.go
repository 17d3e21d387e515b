package pool

import "context"

// Go runs fn on a worker as Do does, without making the caller wait: done gets Do's error once fn has
// returned, or once the pool has given up on it (it was not run, or it ran past RunTimeout). It is for a
// caller that must never block, such as chapter 3's event loop.
//
// done runs on a goroutine that waits for the job in the caller's place. There is one for each job the
// caller has in flight, no more: a caller that bounds its jobs (the event loop answers 503 beyond the
// pool's workers plus its queue) bounds them too.
func (p *Pool) Go(ctx context.Context, fn func(), done func(error)) {
	go func() { done(p.Do(ctx, fn)) }()
}
