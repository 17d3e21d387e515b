package main

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"course/chapters/pool"
)

// Step 2: workers and a bounded queue. README: "Step 2: workers and a bounded queue".

func TestStep2WorkersAndQueue(t *testing.T) {
	tests := []struct {
		rule  string
		check func(t *testing.T)
	}{
		{"newPool refuses fewer than 1 worker, or a negative queue", func(t *testing.T) {
			for _, cfg := range []pool.Config{{Workers: 0, Queue: 4}, {Workers: -1, Queue: 4}, {Workers: 2, Queue: -1}} {
				var err error
				var p *workerPool
				if !within(t, patience, "newPool", func() { p, err = newPool(cfg) }) {
					return
				}
				if err == nil {
					t.Errorf("newPool(%+v) returned no error: a server should refuse such flags rather than guess what they mean", cfg)
					p.Close(t.Context())
				}
			}
		}},
		{"fn runs on a worker goroutine of the pool, not on the goroutine that called Do", func(t *testing.T) {
			p := started(t, pool.Config{Workers: 2, Queue: 2})
			caller, ran := goid(), int64(0)
			if !within(t, patience, "Do", func() {
				if err := p.Do(t.Context(), func() { ran = goid() }, func() {}); err != nil {
					t.Errorf("Do returned %v; want nil, once fn has run", err)
				}
			}) || t.Failed() {
				return
			}
			if ran == caller {
				t.Errorf("fn ran on the goroutine that called Do: hand it to one of the pool's workers, which the " +
					"caller waits for (README: The design)")
			}
		}},
		{"the same cfg.Workers goroutines run every job: workers started once, not a goroutine per job", func(t *testing.T) {
			const workers, jobs = 2, 40
			p := started(t, pool.Config{Workers: workers, Queue: jobs})
			var mu sync.Mutex
			var ids []int64
			var wg sync.WaitGroup
			var once sync.Once
			for range jobs {
				wg.Go(func() {
					if err := p.Do(t.Context(), func() {
						mu.Lock()
						ids = append(ids, goid())
						mu.Unlock()
						time.Sleep(time.Millisecond)
					}, func() {}); err != nil {
						once.Do(func() {
							t.Errorf("Do: %v; want nil (%d jobs fit in %d workers and a queue of %d)", err, jobs, workers, jobs)
						})
					}
				})
			}
			if !within(t, 5*time.Second, "40 calls of Do", wg.Wait) || t.Failed() {
				return
			}
			slices.Sort(ids)
			if n := len(slices.Compact(ids)); n > workers {
				t.Errorf("%d jobs ran on %d different goroutines; want them all on the pool's %d workers", jobs, n, workers)
			}
		}},
		{"at most cfg.Workers jobs run at once; cfg.Workers + cfg.Queue are held, and the next Do fails at once with pool.ErrFull", func(t *testing.T) {
			const workers, queue, extra = 3, 4, 3
			p := started(t, pool.Config{Workers: workers, Queue: queue})
			g := newGate(t)
			var count gauge
			var calls []<-chan error
			for range workers + queue + extra {
				calls = append(calls, do(p, func() { count.during(g.wait) }, func() {}))
			}
			// Nothing returns before the gate opens: whatever the timing, extra calls find the pool full.
			deadline := time.After(patience)
			pending := slices.Clone(calls)
			for full := 0; full < extra; {
				i, err, ok := first(pending, deadline)
				if !ok {
					t.Fatalf("%d of %d calls of Do failed within %v, while %d jobs ran or waited already: when the pool holds "+
						"cfg.Workers + cfg.Queue jobs, Do fails at once with pool.ErrFull, without waiting for room", full, extra, patience, workers+queue)
				}
				if !errors.Is(err, pool.ErrFull) {
					t.Fatalf("Do returned %v while every job was held; want pool.ErrFull for the %d calls beyond cfg.Workers + cfg.Queue = %d, and nothing for the others until a job ends", err, extra, workers+queue)
				}
				pending = slices.Delete(pending, i, i+1)
				full++
			}
			waitStats(t, p, pool.Stats{Busy: workers, Queued: queue}, "3 workers busy, 4 jobs waiting for one")
			if !eventually(patience, func() bool { return count.running() == workers }) {
				t.Fatalf("%d jobs run at once; want cfg.Workers = %d", count.running(), workers)
			}
			g.open()
			for _, errs := range pending {
				if err, ok := returned(t, errs, patience, "a job held when the gate opened"); ok && err != nil {
					t.Errorf("Do returned %v for a job the pool held; want nil once it has run", err)
				}
			}
			if count.highest() != workers {
				t.Errorf("up to %d jobs ran at once; want at most cfg.Workers = %d", count.highest(), workers)
			}
			waitStats(t, p, pool.Stats{}, "every job has ended")
		}},
		{"Do returns nil once fn has returned, and the caller sees what fn did", func(t *testing.T) {
			p := started(t, pool.Config{Workers: 1, Queue: 1})
			done := false
			var err error
			if within(t, patience, "Do", func() { err = p.Do(t.Context(), func() { time.Sleep(50 * time.Millisecond); done = true }, func() {}) }) {
				if err != nil || !done {
					t.Errorf("Do returned %v before fn had finished (fn done: %v); want nil, after fn has returned", err, done)
				}
			}
		}},
		{"jobs that wait run in the order Do was called: first in, first out", func(t *testing.T) {
			p := started(t, pool.Config{Workers: 1, Queue: 3})
			g := newGate(t)
			busy := occupy(t, p, g)
			var mu sync.Mutex
			var order []int
			var calls []<-chan error
			for i := 1; i <= 3; i++ {
				calls = append(calls, do(p, func() { mu.Lock(); order = append(order, i); mu.Unlock() }, func() {}))
				waitStats(t, p, pool.Stats{Busy: 1, Queued: i}, "the jobs wait while the only worker is busy")
			}
			g.open()
			returned(t, busy, patience, "the first job")
			for _, errs := range calls {
				returned(t, errs, patience, "a job that waited")
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(order, []int{1, 2, 3}) {
				t.Errorf("the waiting jobs ran in the order %v; want [1 2 3], the order of the calls: a queue, first in, first out", order)
			}
		}},
		{"a pool without a queue (cfg.Queue 0) runs a job whenever its worker is free, even one just done with a job", func(t *testing.T) {
			p := started(t, pool.Config{Workers: 1, Queue: 0})
			within(t, 10*time.Second, "5000 calls of Do, one after the other", func() {
				for i := range 5000 {
					if err := p.Do(t.Context(), func() {}, func() {}); err != nil {
						t.Errorf("call %d of Do, one after the other with 1 worker and no queue: %v; want nil: the previous job "+
							"has ended, so the pool holds none, even if its worker is not yet back waiting for the next", i+1, err)
						return
					}
				}
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, tt.check)
	}
}

// first waits for the first of calls to return, until deadline, and returns its index and error.
func first(calls []<-chan error, deadline <-chan time.Time) (int, error, bool) {
	for {
		for i, errs := range calls {
			select {
			case err := <-errs:
				return i, err, true
			default:
			}
		}
		select {
		case <-deadline:
			return 0, nil, false
		case <-time.After(time.Millisecond):
		}
	}
}
