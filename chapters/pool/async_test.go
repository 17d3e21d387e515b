package pool

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGo(t *testing.T) {
	// No run timeout here: under load, one could expire before the second job comes, and free the worker.
	p := New(Config{Workers: 1, Queue: 0})
	defer p.Close(context.Background())

	// The caller does not wait for the job (which cannot end before release is closed, below); done gets
	// its outcome.
	release := make(chan struct{})
	done := make(chan error, 3)
	p.Go(func() { <-release }, func(err error) { done <- err })
	require.Empty(t, done, "done was called before the job ended")

	// The only worker is busy, and there is no queue: the next job is refused.
	require.Eventually(t, func() bool { return p.Stats().Busy == 1 }, 5*time.Second, time.Millisecond)
	p.Go(func() { t.Error("a job refused with ErrFull ran") }, func(err error) { done <- err })
	require.ErrorIs(t, <-done, ErrFull)

	close(release)
	require.NoError(t, <-done)

	// A job past the run timeout is given up on: done hears so while it still runs (a done(nil) after the
	// second it sleeps would fail the ErrorIs).
	p = New(Config{Workers: 1, Queue: 0, RunTimeout: 200 * time.Millisecond})
	defer p.Close(context.Background())
	p.Go(func() { time.Sleep(time.Second) }, func(err error) { done <- err })
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrRunTimeout)
	case <-time.After(3 * time.Second):
		t.Fatal("done was not called at the run timeout")
	}
}

func TestGoQueueTimeoutAndClose(t *testing.T) {
	p := New(Config{Workers: 1, Queue: 4, QueueTimeout: 100 * time.Millisecond})
	release := make(chan struct{})
	done := make(chan error, 8)
	p.Go(func() { <-release }, func(err error) { done <- err })
	require.Eventually(t, func() bool { return p.Stats().Busy == 1 }, 5*time.Second, time.Millisecond)

	// With the only worker busy, a job waits in the queue; past the queue timeout, it is not run, and its
	// caller hears so at once, while the worker is still busy.
	start := time.Now()
	p.Go(func() { t.Error("a job past the queue timeout ran") }, func(err error) { done <- err })
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrQueueTimeout)
		require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond, "not before the queue timeout")
	case <-time.After(5 * time.Second):
		t.Fatal("no ErrQueueTimeout while the only worker was busy")
	}
	close(release)
	require.NoError(t, <-done)
	require.Equal(t, 0, p.Stats().Queued, "the job given up on is out of the count")
	require.NoError(t, p.Close(context.Background()))
	p.Go(func() { t.Error("a job after Close ran") }, func(err error) { done <- err })
	require.ErrorIs(t, <-done, ErrClosed)
}

// TestGoMany checks that every job of many callers at once ends exactly once.
func TestGoMany(t *testing.T) {
	p := New(Config{Workers: 4, Queue: 1000, RunTimeout: time.Minute})
	defer p.Close(context.Background())
	const n = 5000
	var ran atomic.Int64
	ended := make(chan error, n)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range n / 10 {
				p.Go(func() { ran.Add(1) }, func(err error) { ended <- err })
			}
		})
	}
	wg.Wait()
	ok := 0
	for range n {
		if err := <-ended; err == nil {
			ok++
		} else {
			require.ErrorIs(t, err, ErrFull)
		}
	}
	require.Equal(t, int64(ok), ran.Load(), "the jobs that ended well are the jobs that ran")
	require.Greater(t, ok, 0)
	select {
	case err := <-ended:
		t.Fatalf("a job ended twice (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
}
