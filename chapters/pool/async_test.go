package pool

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGo(t *testing.T) {
	p := New(Config{Workers: 1, Queue: 0, RunTimeout: 200 * time.Millisecond})
	defer p.Close(context.Background())

	// The caller does not wait for the job; done gets its outcome.
	release := make(chan struct{})
	done := make(chan error, 3)
	start := time.Now()
	p.Go(context.Background(), func() { <-release }, func(err error) { done <- err })
	require.Less(t, time.Since(start), 100*time.Millisecond, "Go must not wait for the job")

	// The only worker is busy, and there is no queue: the next job is refused.
	require.Eventually(t, func() bool { return p.Stats().Busy == 1 }, time.Second, time.Millisecond)
	p.Go(context.Background(), func() { t.Error("a job refused with ErrFull ran") }, func(err error) { done <- err })
	require.ErrorIs(t, <-done, ErrFull)

	close(release)
	require.NoError(t, <-done)

	// A job past the run timeout is given up on: done hears so while it still runs.
	p.Go(context.Background(), func() { time.Sleep(time.Second) }, func(err error) { done <- err })
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrRunTimeout)
	case <-time.After(800 * time.Millisecond):
		t.Fatal("done was not called at the run timeout")
	}
}
