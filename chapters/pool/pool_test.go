package pool

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"course/chapters/gateway"
)

// gauge counts the jobs running at once and remembers the peak.
type gauge struct {
	now, peak atomic.Int64
}

// during counts f as running while it runs.
func (g *gauge) during(f func()) {
	n := g.now.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	f()
	g.now.Add(-1)
}

// runner is what the tests need of a Pool or a Limiter: every test runs on both.
type runner interface {
	Runner
	Close(context.Context) error
	Stats() Stats
}

// each runs test on a Pool and on a Limiter, made by the function it gets.
func each(t *testing.T, test func(t *testing.T, newRunner func(Config) runner)) {
	t.Run("Pool", func(t *testing.T) { test(t, func(c Config) runner { return New(c) }) })
	t.Run("Limiter", func(t *testing.T) { test(t, func(c Config) runner { return NewLimiter(c) }) })
}

func TestBoundAndQueue(t *testing.T) { each(t, boundAndQueue) }

func boundAndQueue(t *testing.T, newRunner func(Config) runner) {
	p := newRunner(Config{Workers: 3, Queue: 4})
	defer p.Close(context.Background())
	var g gauge
	release := make(chan struct{})
	errs := make(chan error, 10)
	for range 10 {
		go func() { errs <- p.Do(context.Background(), func() { g.during(func() { <-release }) }, nil) }()
	}
	// Nothing ends before release: 3 run, 4 wait, and the other 3 find the queue full, whatever the timing.
	for range 3 {
		require.ErrorIs(t, <-errs, ErrFull)
	}
	require.Eventually(t, func() bool { return g.now.Load() == 3 }, 5*time.Second, time.Millisecond,
		"every worker takes a job")
	close(release)
	for range 7 {
		require.NoError(t, <-errs)
	}
	require.Equal(t, int64(3), g.peak.Load(), "never more than Workers jobs at once")
}

func TestQueueTimeout(t *testing.T) { each(t, queueTimeout) }

func queueTimeout(t *testing.T, newRunner func(Config) runner) {
	p := newRunner(Config{Workers: 1, Queue: 1, QueueTimeout: 100 * time.Millisecond})
	defer p.Close(context.Background())
	release := make(chan struct{})
	go p.Do(context.Background(), func() { <-release }, nil)
	require.Eventually(t, func() bool { return p.Stats().Busy == 1 }, 5*time.Second, time.Millisecond)
	var ran atomic.Bool
	start := time.Now()
	err := p.Do(context.Background(), func() { ran.Store(true) }, nil) // the worker is busy until release
	require.ErrorIs(t, err, ErrQueueTimeout)
	require.Less(t, time.Since(start), time.Second, "the 503 comes when the queue timeout expires, not when a worker frees up")
	close(release)
	// The worker takes the jobs in order: once the next one has run, it has passed the one given up on.
	require.NoError(t, p.Do(context.Background(), func() {}, nil))
	require.False(t, ran.Load(), "a job that waited too long is not run")
}

func TestRunTimeoutReplacesTheWorker(t *testing.T) { each(t, runTimeout) }

func runTimeout(t *testing.T, newRunner func(Config) runner) {
	for _, cfg := range []Config{
		{Workers: 1, Queue: 1, RunTimeout: 100 * time.Millisecond},
		{Workers: 1, Queue: 1, RunTimeout: 100 * time.Millisecond, QueueTimeout: 5 * time.Second},
	} {
		p := newRunner(cfg)
		hang := make(chan struct{})
		late := make(chan struct{})
		ended := make(chan error, 1)
		start := time.Now()
		go func() { ended <- p.Do(context.Background(), func() { <-hang }, func() { close(late) }) }()
		select {
		case <-late:
		case <-time.After(5 * time.Second):
			t.Fatal("late was not called")
		}
		require.Less(t, time.Since(start), time.Second, "the run timeout is 100 ms, whatever the queue timeout")
		require.Eventually(t, func() bool { return p.Stats().Abandoned == 1 }, 5*time.Second, time.Millisecond)
		require.Equal(t, Stats{Abandoned: 1}, p.Stats(), "an abandoned job is neither busy nor queued")
		// The abandoned job still runs, but a new worker took its place, and its queue is whole.
		release := make(chan struct{})
		done := make(chan error, 2)
		go func() { done <- p.Do(context.Background(), func() { <-release }, nil) }()
		require.Eventually(t, func() bool { return p.Stats().Busy == 1 }, 5*time.Second, time.Millisecond)
		go func() { done <- p.Do(context.Background(), func() {}, nil) }()
		require.Eventually(t, func() bool { return p.Stats() == Stats{Busy: 1, Queued: 1, Abandoned: 1} }, 5*time.Second,
			time.Millisecond, "one running, one queued, one abandoned: %+v", p.Stats())
		close(release)
		require.NoError(t, <-done)
		require.NoError(t, <-done)
		close(hang)
		require.ErrorIs(t, <-ended, ErrRunTimeout)
		p.Close(context.Background())
	}
}

func TestCancelledBeforeStart(t *testing.T) { each(t, cancelledBeforeStart) }

func cancelledBeforeStart(t *testing.T, newRunner func(Config) runner) {
	p := newRunner(Config{Workers: 1, Queue: 1})
	release := releaser(t, p)
	go p.Do(context.Background(), func() { <-release }, nil)
	require.Eventually(t, func() bool { return p.Stats().Busy == 1 }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Bool
	done := make(chan error)
	go func() { done <- p.Do(ctx, func() { ran.Store(true) }, nil) }()
	require.Eventually(t, func() bool { return p.Stats().Queued == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	close(release)
	require.NoError(t, p.Do(context.Background(), func() {}, nil))
	require.False(t, ran.Load())
}

// releaser returns a channel for jobs to wait on, and closes p when the test ends, releasing them first if the
// test has not: a failed test does not hang on its pool.
func releaser(t *testing.T, p runner) chan struct{} {
	release := make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
		p.Close(context.Background())
	})
	return release
}

func TestClose(t *testing.T) { each(t, closing) }

func closing(t *testing.T, newRunner func(Config) runner) {
	p := newRunner(Config{Workers: 1, Queue: 2})
	release := make(chan struct{})
	go p.Do(context.Background(), func() { <-release }, nil)
	require.Eventually(t, func() bool { return p.Stats().Busy == 1 }, 5*time.Second, time.Millisecond)
	queued := make(chan error)
	go func() { queued <- p.Do(context.Background(), func() {}, nil) }()
	require.Eventually(t, func() bool { return p.Stats().Queued == 1 }, 5*time.Second, time.Millisecond,
		"the job waits in the queue when Close comes")
	closed := make(chan error)
	go func() { closed <- p.Close(context.Background()) }()
	require.ErrorIs(t, <-queued, ErrClosed)
	close(release)
	require.NoError(t, <-closed)
	require.ErrorIs(t, p.Do(context.Background(), func() {}, nil), ErrClosed)
}

// TestManyCallers hammers the pool from many goroutines, under the race detector in make test.
func TestManyCallers(t *testing.T) { each(t, manyCallers) }

func manyCallers(t *testing.T, newRunner func(Config) runner) {
	p := newRunner(Config{Workers: 4, Queue: 8, QueueTimeout: time.Second, RunTimeout: time.Second})
	defer p.Close(context.Background())
	var wg sync.WaitGroup
	var ok, full atomic.Int64
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := p.Do(context.Background(), func() { time.Sleep(time.Millisecond) }, nil); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrFull):
				full.Add(1)
			default:
				t.Errorf("unexpected error %v", err)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int64(200), ok.Load()+full.Load())
	require.Positive(t, ok.Load())
}

// fixed is a Runner that fails with a fixed error, or runs the job. ErrRunTimeout calls late first, as
// the watchdog would have.
type fixed struct{ err error }

func (r fixed) Do(ctx context.Context, fn func(), late func()) error {
	switch r.err {
	case nil:
		fn()
	case ErrRunTimeout:
		late()
	}
	return r.err
}

func TestAnswer(t *testing.T) {
	hello := func(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
		start("200 OK", nil)
		return gateway.Bytes([]byte("hi")), nil
	}
	tests := []struct {
		name   string
		r      Runner
		body   bool
		keep   bool
		prefix string
	}{
		{"answered", fixed{}, false, true, "HTTP/1.1 200 OK\r\n"},
		{"full", fixed{ErrFull}, false, true, "HTTP/1.1 503 Service Unavailable\r\n"},
		{"full with a body unread", fixed{ErrFull}, true, false, "HTTP/1.1 503 Service Unavailable\r\n"},
		{"waited too long", fixed{ErrQueueTimeout}, false, true, "HTTP/1.1 503 Service Unavailable\r\n"},
		{"too slow", fixed{ErrRunTimeout}, false, false, "HTTP/1.1 504 Gateway Timeout\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &gateway.Request{Method: "GET", Target: "/", Proto: "HTTP/1.1", Major: 1, Minor: 1,
				Header: []gateway.Header{{Name: "Host", Value: "x"}}, Body: strings.NewReader("")}
			if tt.body {
				req.Method, req.ContentLength, req.Body = "POST", 3, strings.NewReader("abc")
			}
			var out bytes.Buffer
			bw := bufio.NewWriter(&out)
			keep := Answer(tt.r, gateway.Server{}, hello)(bw, req, false)
			require.NoError(t, bw.Flush())
			require.Equal(t, tt.keep, keep)
			require.True(t, strings.HasPrefix(out.String(), tt.prefix), "got %q", out.String())
			if strings.Contains(tt.prefix, "503") {
				require.Contains(t, out.String(), "Retry-After: 1\r\n")
			}
		})
	}
}

// TestAnswerAfterAWriteError checks that a connection whose writes failed (a client that reset it) leaves
// nothing behind that fails the responses of later requests: the pool recycles what answers a request.
func TestAnswerAfterAWriteError(t *testing.T) {
	hello := func(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
		start("200 OK", nil)
		return gateway.Bytes([]byte("hi")), nil
	}
	answer := Answer(fixed{}, gateway.Server{}, hello)
	request := func() *gateway.Request {
		return &gateway.Request{Method: "GET", Target: "/", Proto: "HTTP/1.1", Major: 1, Minor: 1,
			Header: []gateway.Header{{Name: "Host", Value: "x"}}, Body: strings.NewReader("")}
	}
	for range 20 {
		require.False(t, answer(bufio.NewWriterSize(failingWriter{}, 16), request(), false), "a failed write ends the connection")
		var out bytes.Buffer
		bw := bufio.NewWriter(&out)
		require.True(t, answer(bw, request(), false))
		require.NoError(t, bw.Flush())
		require.True(t, strings.HasPrefix(out.String(), "HTTP/1.1 200 OK\r\n"), "got %q", out.String())
	}
}

// failingWriter fails every write, as a connection the client has reset does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

// TestAnswerAbandoned checks that an app abandoned after the run timeout cannot write after the 504.
func TestAnswerAbandoned(t *testing.T) { each(t, answerAbandoned) }

func answerAbandoned(t *testing.T, newRunner func(Config) runner) {
	p := newRunner(Config{Workers: 1, Queue: 1, RunTimeout: 100 * time.Millisecond})
	release := releaser(t, p)
	slow := func(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
		<-release // answers only after the 504
		start("200 OK", nil)
		return gateway.Bytes([]byte("late")), nil
	}
	req := &gateway.Request{Method: "GET", Target: "/", Proto: "HTTP/1.1", Major: 1, Minor: 1,
		Header: []gateway.Header{{Name: "Host", Value: "x"}}, Body: strings.NewReader("")}
	var out lockedBuffer
	bw := bufio.NewWriter(&out)
	keep := make(chan bool, 1)
	go func() { keep <- Answer(p, gateway.Server{}, slow)(bw, req, false) }()
	require.Eventually(t, func() bool { return strings.HasPrefix(out.String(), "HTTP/1.1 504 ") }, 5*time.Second,
		time.Millisecond, "a 504 once the run timeout has passed")
	close(release)
	require.False(t, <-keep)
	require.Eventually(t, func() bool { return p.Stats().Abandoned == 0 }, 5*time.Second, time.Millisecond,
		"the abandoned app has ended, its writes refused")
	require.NoError(t, bw.Flush())
	require.NotContains(t, out.String(), "late")
}

// lockedBuffer is a bytes.Buffer that the pool's goroutines write while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestQuickJobs runs many jobs that end before Do looks: each Do must return, with the job's outcome.
func TestQuickJobs(t *testing.T) { each(t, quickJobs) }

func quickJobs(t *testing.T, newRunner func(Config) runner) {
	for _, cfg := range []Config{{Workers: 2, Queue: 4}, {Workers: 2, Queue: 4, QueueTimeout: time.Second, RunTimeout: time.Second}} {
		p := newRunner(cfg)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 20000 {
				if err := p.Do(context.Background(), func() {}, nil); err != nil {
					t.Errorf("Do: %v", err)
					return
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("Do hung on a job that had already ended")
		}
		p.Close(context.Background())
	}
}

// BenchmarkDo measures what running a job costs, from callers on every core: a hand-off to a worker
// (Pool), or taking and giving back a place (Limiter).
func BenchmarkDo(b *testing.B) {
	cfg := Config{Workers: 8, Queue: 64, QueueTimeout: 5 * time.Second, RunTimeout: 30 * time.Second}
	for _, r := range []struct {
		name string
		r    runner
	}{{"Pool", New(cfg)}, {"Limiter", NewLimiter(cfg)}} {
		b.Run(r.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := r.r.Do(context.Background(), func() {}, nil); err != nil && !errors.Is(err, ErrFull) {
						b.Fatal(err)
					}
				}
			})
		})
		r.r.Close(context.Background())
	}
}

// TestNoQueueButFreeWorkers checks that a pool without a queue still takes a job whenever a worker is free,
// even one that has not yet come back for the next job.
func TestNoQueueButFreeWorkers(t *testing.T) { each(t, noQueueButFreeWorkers) }

func noQueueButFreeWorkers(t *testing.T, newRunner func(Config) runner) {
	p := newRunner(Config{Workers: 2, Queue: 0})
	defer p.Close(context.Background())
	for i := range 5000 {
		require.NoError(t, p.Do(context.Background(), func() {}, nil), "job %d, one at a time, with two workers", i)
	}
}

// TestWatchdogSleepsWhileIdle checks that the watchdog looks every period while the pool is busy, not at all
// while it is idle, wakes up when a job comes, and ends once closed and idle.
func TestWatchdogSleepsWhileIdle(t *testing.T) {
	w := newWatchdog(10 * time.Millisecond) // looks every millisecond
	var idle atomic.Bool
	var looks atomic.Int64
	done := make(chan struct{})
	ended := make(chan struct{})
	idle.Store(true)
	go func() {
		w.run(idle.Load, done, func() { looks.Add(1) })
		close(ended)
	}()
	time.Sleep(50 * time.Millisecond)
	require.Zero(t, looks.Load(), "no look while idle")
	idle.Store(false)
	w.busy()
	require.Eventually(t, func() bool { return looks.Load() >= 5 }, 5*time.Second, time.Millisecond, "looks while busy")
	idle.Store(true)
	close(done)
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the watchdog did not end once closed and idle")
	}
}

// TestGivenUpOnLeaveRoom checks that jobs given up on after their queue timeout free their room in the queue at
// once, even while every worker is busy, so that the next ones wait rather than find the pool full.
func TestGivenUpOnLeaveRoom(t *testing.T) { each(t, givenUpOnLeaveRoom) }

func givenUpOnLeaveRoom(t *testing.T, newRunner func(Config) runner) {
	const queue = 2
	p := newRunner(Config{Workers: 1, Queue: queue, QueueTimeout: 50 * time.Millisecond})
	release := releaser(t, p)
	go p.Do(context.Background(), func() { <-release }, nil)
	require.Eventually(t, func() bool { return p.Stats().Busy == 1 }, 5*time.Second, time.Millisecond)
	for round := range 4 {
		errs := make(chan error, queue)
		for range queue {
			go func() { errs <- p.Do(context.Background(), func() {}, nil) }()
		}
		for range queue {
			require.ErrorIs(t, <-errs, ErrQueueTimeout, "round %d: the jobs given up on before must have left the queue", round+1)
		}
	}
	close(release)
	require.NoError(t, p.Do(context.Background(), func() {}, nil))
}

// TestGoGivenUpOnLeaveRoom is TestGivenUpOnLeaveRoom for Go, which chapter 3's event loop calls.
func TestGoGivenUpOnLeaveRoom(t *testing.T) {
	const queue = 2
	p := New(Config{Workers: 1, Queue: queue, QueueTimeout: 50 * time.Millisecond})
	release := releaser(t, p)
	p.Go(func() { <-release }, func(error) {})
	require.Eventually(t, func() bool { return p.Stats().Busy == 1 }, 5*time.Second, time.Millisecond)
	for round := range 4 {
		errs := make(chan error, queue)
		for range queue {
			p.Go(func() {}, func(err error) { errs <- err })
		}
		for range queue {
			require.ErrorIs(t, <-errs, ErrQueueTimeout, "round %d: the jobs given up on before must have left the queue", round+1)
		}
	}
	close(release)
	done := make(chan error, 1)
	p.Go(func() {}, func(err error) { done <- err })
	require.NoError(t, <-done)
}
