package main

// The step tests check each step of the chapter on its own, before the grader judges the whole server: one
// file per step, one table of cases per test, each case named for the rule it checks. Run them with make, from
// the repository's root, which runs them with the race detector:
//
//	make check CHAPTER=2 STEP=3   # the tests of step 3
//	make check CHAPTER=2          # every step in order, up to the first that fails
//
// or with go test -race -run 'TestStep3' ./chapters/02-threaded (add -v to see every case).
//
// The tests wait on what they can see (a job that has started, the pool's Stats) rather than on sleeps, and
// every wait is bounded: a pool that loses a job fails a test, it does not hang it. Where a test must show that
// something does not happen (a job that must not start), it watches for a few hundred milliseconds.

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"course/chapters/pool"
	"course/chapters/steptest"
)

// patience bounds every wait for something that should happen soon; quiet is how long a test watches for
// something that must not happen.
const (
	patience = 2 * time.Second
	quiet    = 300 * time.Millisecond
)

// within calls f and waits at most d for it to return, and fails the test if it does not, or panics.
func within(t *testing.T, d time.Duration, what string, f func()) bool {
	t.Helper()
	return steptest.Within(t, d, what, f)
}

// eventually reports whether cond becomes true within d, looking every millisecond.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// gate holds the jobs that wait on it until it opens. The end of the test opens it, so that the jobs of a test
// that failed do not wait forever.
type gate struct {
	ch   chan struct{}
	once sync.Once
}

func newGate(t *testing.T) *gate {
	g := &gate{ch: make(chan struct{})}
	t.Cleanup(g.open)
	return g
}

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }
func (g *gate) wait() { <-g.ch }

// gauge counts the jobs running at once, and remembers the peak.
type gauge struct {
	mu        sync.Mutex
	now, peak int
}

// during counts f as running while it runs.
func (g *gauge) during(f func()) {
	g.mu.Lock()
	g.now++
	g.peak = max(g.peak, g.now)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.now--
		g.mu.Unlock()
	}()
	f()
}

func (g *gauge) running() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.now
}

func (g *gauge) highest() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peak
}

// made returns the pool newPool(cfg) makes, failing the test if it fails. The test closes it, if it must.
func made(t *testing.T, cfg pool.Config) *workerPool {
	t.Helper()
	var p *workerPool
	var err error
	if !within(t, patience, fmt.Sprintf("newPool(%+v)", cfg), func() { p, err = newPool(cfg) }) {
		t.FailNow()
	}
	if err != nil || p == nil {
		t.Fatalf("newPool(%+v) = %v, %v; want a pool", cfg, p, err)
	}
	return p
}

// started returns the pool newPool(cfg) makes, failing the test if it fails. The end of the test closes the
// pool, without waiting more than a moment for it.
func started(t *testing.T, cfg pool.Config) *workerPool {
	t.Helper()
	p := made(t, cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		go func() {
			defer cancel()
			p.Close(ctx)
		}()
	})
	return p
}

// async calls p.Do(ctx, fn, late) on a goroutine of its own, and returns the channel that gets what Do returns.
func async(p *workerPool, ctx context.Context, fn, late func()) <-chan error {
	errs := make(chan error, 1)
	go func() { errs <- p.Do(ctx, fn, late) }()
	return errs
}

// do calls p.Do with a background context on a goroutine of its own: async for the usual case.
func do(p *workerPool, fn, late func()) <-chan error { return async(p, context.Background(), fn, late) }

// returned waits up to d for what Do returns on errs, and fails the test with a message about what if it has
// not returned by then.
func returned(t *testing.T, errs <-chan error, d time.Duration, what string) (error, bool) {
	t.Helper()
	select {
	case err := <-errs:
		return err, true
	case <-time.After(d):
		t.Errorf("%s: Do has not returned after %v", what, d)
		return nil, false
	}
}

// stillWaiting reports, after watching for quiet, whether Do has not returned on errs.
func stillWaiting(errs <-chan error) (error, bool) {
	select {
	case err := <-errs:
		return err, false
	case <-time.After(quiet):
		return nil, true
	}
}

// waitStats waits up to patience for p.Stats() to be want, and fails the test if it does not get there.
func waitStats(t *testing.T, p *workerPool, want pool.Stats, why string) {
	t.Helper()
	if !eventually(patience, func() bool { return p.Stats() == want }) {
		t.Fatalf("Stats() is %+v after %v; want %+v: %s", p.Stats(), patience, want, why)
	}
}

// occupy runs a job on p that holds its worker until g opens, waits until Stats says it runs, and returns the
// channel that gets what Do returns for it. It fails the test if Do returns at once, or Stats never says so.
func occupy(t *testing.T, p *workerPool, g *gate) <-chan error {
	t.Helper()
	errs := make(chan error, 1)
	inner := do(p, g.wait, func() {})
	if !eventually(patience, func() bool {
		select {
		case err := <-inner:
			errs <- err
			return true
		default:
			return p.Stats().Busy == 1
		}
	}) {
		t.Fatalf("Stats() is %+v, %v after Do was given a job that holds its worker; want Busy 1: the job runs", p.Stats(), patience)
	}
	if len(errs) > 0 {
		t.Fatalf("Do returned %v at once for a job that holds its worker; want it to run, and Do to wait for it", <-errs)
	}
	go func() { errs <- <-inner }()
	return errs
}

// goid returns the id of the calling goroutine, which its stack trace starts with: "goroutine 7 [running]:".
func goid() int64 {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	fields := strings.Fields(string(buf))
	if len(fields) < 2 {
		return -1
	}
	id, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return -1
	}
	return id
}
