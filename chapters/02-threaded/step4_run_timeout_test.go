package main

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"course/chapters/pool"
)

// Step 4: the run timeout. README: "Step 4: the run timeout".

// abandon runs a job on p that hangs until hang opens, and waits until the pool has given up on it: late called
// and Do returned pool.ErrRunTimeout, within patience. It fails the test otherwise.
func abandon(t *testing.T, p *workerPool, hang *gate) {
	t.Helper()
	late := make(chan struct{})
	var once sync.Once
	errs := do(p, hang.wait, func() { once.Do(func() { close(late) }) })
	err, ok := returned(t, errs, patience, "a job that hangs past cfg.RunTimeout (its late should be called, and Do return, when the time is up)")
	switch {
	case !ok:
		t.FailNow()
	case !errors.Is(err, pool.ErrRunTimeout):
		t.Fatalf("Do returned %v for a job that ran past cfg.RunTimeout; want pool.ErrRunTimeout", err)
	}
	select {
	case <-late:
	default:
		t.Fatal("Do returned pool.ErrRunTimeout before late was called: call late (it writes the 504), then let Do return")
	}
}

func TestStep4RunTimeout(t *testing.T) {
	const runTimeout = 200 * time.Millisecond
	tests := []struct {
		rule  string
		check func(t *testing.T)
	}{
		{"a job that runs cfg.RunTimeout is abandoned: late is called, then Do returns pool.ErrRunTimeout, while fn runs on", func(t *testing.T) {
			p := started(t, pool.Config{Workers: 1, Queue: 1, RunTimeout: runTimeout})
			hang := newGate(t)
			var ended atomic.Bool
			lates := make(chan time.Time, 2)
			start := time.Now()
			errs := do(p, func() { hang.wait(); ended.Store(true) }, func() { lates <- time.Now() })
			err, ok := returned(t, errs, patience, "a job that hangs, with cfg.RunTimeout 200ms")
			took := time.Since(start).Round(time.Millisecond)
			switch {
			case !ok:
				t.Fatal("time each job from when it starts to run, and when cfg.RunTimeout is up, call late and let Do return: " +
					"the app may never return, and the client must get its 504")
			case !errors.Is(err, pool.ErrRunTimeout):
				t.Fatalf("Do returned %v after %v; want pool.ErrRunTimeout after cfg.RunTimeout (200ms)", err, took)
			case took < runTimeout-20*time.Millisecond:
				t.Fatalf("Do returned pool.ErrRunTimeout after %v, before cfg.RunTimeout (200ms) had passed", took)
			case ended.Load():
				t.Fatal("Do returned once fn had returned; want it to return when the run timeout is up, while fn still runs")
			}
			select {
			case at := <-lates:
				if d := at.Sub(start); d < runTimeout-20*time.Millisecond {
					t.Errorf("late was called %v after the job started, before cfg.RunTimeout (200ms)", d.Round(time.Millisecond))
				}
			default:
				t.Fatal("Do returned pool.ErrRunTimeout without calling late first: late writes the 504")
			}
			hang.open()
			if eventually(quiet, func() bool { return len(lates) > 0 }) {
				t.Error("late was called twice for one job")
			}
		}},
		{"the abandoned job's place goes to the next job at once: a new worker runs it while the abandoned one runs on", func(t *testing.T) {
			p := started(t, pool.Config{Workers: 1, Queue: 1, RunTimeout: runTimeout})
			hang := newGate(t)
			abandon(t, p, hang)
			waitStats(t, p, pool.Stats{Abandoned: 1}, "the abandoned job is neither busy nor queued, and still runs")
			err, ok := returned(t, do(p, func() {}, func() {}), patience, "a job after the only worker's job was abandoned")
			if !ok {
				t.Fatal("start a new worker in the abandoned job's place: its own worker is stuck in fn until fn returns, which may be never")
			}
			if err != nil {
				t.Errorf("Do returned %v; want nil", err)
			}
		}},
		{"an abandoned job holds no room: cfg.Workers + cfg.Queue jobs can be held beside it", func(t *testing.T) {
			const queue = 2
			// A run timeout long enough that the jobs held beside the abandoned one are not abandoned too.
			p := started(t, pool.Config{Workers: 1, Queue: queue, RunTimeout: time.Second})
			hang, g := newGate(t), newGate(t)
			abandon(t, p, hang)
			var calls []<-chan error
			for range 1 + queue {
				calls = append(calls, do(p, g.wait, func() {}))
			}
			waitStats(t, p, pool.Stats{Busy: 1, Queued: queue, Abandoned: 1}, "one job runs, two wait, and the abandoned one runs on beside them")
			g.open()
			for _, errs := range calls {
				if err, ok := returned(t, errs, patience, "a job held beside the abandoned one"); ok && err != nil {
					t.Errorf("Do returned %v; want nil: count the abandoned job out of the jobs held when it is abandoned", err)
				}
			}
		}},
		{"when the abandoned fn returns, its worker leaves: the pool keeps cfg.Workers workers", func(t *testing.T) {
			// A run timeout long enough that the jobs that come next are not abandoned too.
			p := started(t, pool.Config{Workers: 1, Queue: 1, RunTimeout: time.Second})
			hang, g := newGate(t), newGate(t)
			abandon(t, p, hang)
			hang.open()
			waitStats(t, p, pool.Stats{}, "the abandoned job has returned")
			var count gauge
			a := do(p, func() { count.during(g.wait) }, func() {})
			b := do(p, func() { count.during(g.wait) }, func() {})
			waitStats(t, p, pool.Stats{Busy: 1, Queued: 1}, "one worker: one job runs, the other waits")
			time.Sleep(quiet / 3)
			if n := count.running(); n > 1 {
				t.Errorf("%d jobs run at once with cfg.Workers 1: the worker of the abandoned job came back for more work, "+
					"beside the one that took its place", n)
			}
			g.open()
			returned(t, a, patience, "a job")
			returned(t, b, patience, "a job")
		}},
		{"the run timeout starts when fn starts: time spent waiting in the queue is not run time", func(t *testing.T) {
			// Each job runs 600ms, well within the 1s run timeout; the second also waits 600ms in the queue first.
			const runs = 600 * time.Millisecond
			p := started(t, pool.Config{Workers: 1, Queue: 1, RunTimeout: time.Second})
			var lates atomic.Int32
			late := func() { lates.Add(1) }
			a := do(p, func() { time.Sleep(runs) }, late)
			waitStats(t, p, pool.Stats{Busy: 1}, "the first job runs")
			b := do(p, func() { time.Sleep(runs) }, late)
			for _, errs := range []<-chan error{a, b} {
				if err, ok := returned(t, errs, 2*patience, "a job of 600ms with cfg.RunTimeout 1s"); ok && err != nil {
					t.Errorf("Do returned %v for a job that ran 600ms (the second after 600ms in the queue), with cfg.RunTimeout 1s; want nil: "+
						"start the timeout when fn starts to run", err)
				}
			}
			if n := lates.Load(); n > 0 {
				t.Errorf("late was called %d times for jobs that each ran 600ms with cfg.RunTimeout 1s; want none", n)
			}
		}},
		{"a job that returns in time is never abandoned, however long after it the pool lives", func(t *testing.T) {
			const runTimeout = 300 * time.Millisecond
			p := started(t, pool.Config{Workers: 2, Queue: 4, RunTimeout: runTimeout})
			var lates atomic.Int32
			for range 200 {
				if err, ok := returned(t, do(p, func() {}, func() { lates.Add(1) }), patience, "a quick job"); ok && err != nil {
					t.Fatalf("Do returned %v for a quick job; want nil", err)
				}
			}
			time.Sleep(runTimeout + quiet)
			if n := lates.Load(); n > 0 {
				t.Errorf("late was called %d times for 200 jobs that each returned at once, with cfg.RunTimeout 300ms: stop timing a job when it returns", n)
			}
			if s := p.Stats(); s != (pool.Stats{}) {
				t.Errorf("Stats() is %+v once every job has returned; want all zero", s)
			}
		}},
		{"a job that returns just as its time is up is answered once: in time (nil, no late), or abandoned (late, then pool.ErrRunTimeout)", func(t *testing.T) {
			const workers, jobs = 3, 60
			p := started(t, pool.Config{Workers: workers, Queue: jobs, RunTimeout: 20 * time.Millisecond})
			var wg sync.WaitGroup
			var once sync.Once // one message is enough: the first
			for i := range jobs {
				wg.Go(func() {
					var lates atomic.Int32
					err := p.Do(t.Context(), func() { time.Sleep(time.Duration(15+i%10) * time.Millisecond) }, func() { lates.Add(1) })
					switch n := lates.Load(); {
					case err == nil && n != 0:
						once.Do(func() {
							t.Errorf("Do returned nil for a job whose late was called %d times: a job is answered in time or abandoned, not both", n)
						})
					case errors.Is(err, pool.ErrRunTimeout) && n != 1:
						once.Do(func() {
							t.Errorf("Do returned pool.ErrRunTimeout for a job whose late was called %d times; want once", n)
						})
					case err != nil && !errors.Is(err, pool.ErrRunTimeout):
						once.Do(func() { t.Errorf("Do returned %v; want nil or pool.ErrRunTimeout", err) })
					}
				})
			}
			if !within(t, 10*time.Second, "60 jobs near their run timeout", wg.Wait) {
				return
			}
			waitStats(t, p, pool.Stats{}, "every job has returned: none held, none abandoned")
			// The pool must still have its 3 workers, no more: jobs of 5ms, 40 at once, run at most 3 at a time
			// (plus any that a loaded machine made overrun the 20ms, whose late is then called).
			var count gauge
			var lates atomic.Int32
			var calls []<-chan error
			for range 40 {
				calls = append(calls, do(p, func() { count.during(func() { time.Sleep(5 * time.Millisecond) }) }, func() { lates.Add(1) }))
			}
			for _, errs := range calls {
				returned(t, errs, 5*time.Second, "a job of 5ms")
			}
			if peak, over := count.highest(), int(lates.Load()); peak > workers+over {
				t.Errorf("%d jobs ran at once after the jobs near their run timeout, with cfg.Workers %d: the pool grew. Exactly one of "+
					"the timeout and fn's return may give a worker's place back; the worker of an abandoned job must leave", peak, workers)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, tt.check)
	}
}
