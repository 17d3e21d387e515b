package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"course/chapters/pool"
)

// Step 3: the queue timeout. README: "Step 3: the queue timeout".

func TestStep3QueueTimeout(t *testing.T) {
	const queueTimeout = 200 * time.Millisecond
	tests := []struct {
		rule  string
		check func(t *testing.T)
	}{
		{"a job that waited cfg.QueueTimeout is not run: Do returns pool.ErrQueueTimeout the moment the time is up, while the worker is still busy", func(t *testing.T) {
			p := started(t, pool.Config{Workers: 1, Queue: 1, QueueTimeout: queueTimeout})
			g := newGate(t)
			occupy(t, p, g)
			var ran atomic.Bool
			start := time.Now()
			errs := do(p, func() { ran.Store(true) }, func() {})
			err, ok := returned(t, errs, patience, "a job behind a worker that stays busy, with cfg.QueueTimeout 200ms")
			waited := time.Since(start).Round(time.Millisecond)
			switch {
			case !ok:
				t.Fatal("the 503 comes when the queue timeout is up, not when a worker frees up: time the wait, and give up when its time is up")
			case !errors.Is(err, pool.ErrQueueTimeout):
				t.Fatalf("Do returned %v after %v; want pool.ErrQueueTimeout after cfg.QueueTimeout (200ms)", err, waited)
			case waited < queueTimeout-20*time.Millisecond:
				t.Fatalf("Do returned pool.ErrQueueTimeout after %v, before cfg.QueueTimeout (200ms) had passed", waited)
			}
			g.open()
			waitStats(t, p, pool.Stats{}, "the first job has ended; the one given up on is not run")
			// The worker takes the jobs in order: once the next one has run, it has passed the one given up on.
			if err, ok := returned(t, do(p, func() {}, func() {}), patience, "a job once the worker is free"); ok && err != nil {
				t.Errorf("Do returned %v; want nil: the worker is free", err)
			}
			if ran.Load() {
				t.Error("the job given up on ran once the worker was free: a job that waited too long must not run, its client has its 503 already")
			}
		}},
		{"jobs given up on leave the queue: their room is free for others", func(t *testing.T) {
			const queue = 2
			p := started(t, pool.Config{Workers: 1, Queue: queue, QueueTimeout: queueTimeout})
			g := newGate(t)
			occupy(t, p, g)
			for round := 1; round <= 3; round++ {
				var calls []<-chan error
				for range queue {
					calls = append(calls, do(p, func() {}, func() {}))
				}
				for _, errs := range calls {
					err, ok := returned(t, errs, patience, "a job behind a worker that stays busy")
					if ok && !errors.Is(err, pool.ErrQueueTimeout) {
						t.Fatalf("round %d of %d jobs that fill the queue: Do returned %v; want pool.ErrQueueTimeout: the %d jobs "+
							"given up on before them must have left the queue", round, queue, err, queue*(round-1))
					}
				}
				waitStats(t, p, pool.Stats{Busy: 1}, "the jobs given up on no longer wait")
			}
		}},
		{"the queue timeout bounds the wait for a worker, not the run: a job that finds a free worker runs past it", func(t *testing.T) {
			p := started(t, pool.Config{Workers: 1, Queue: 1, QueueTimeout: 500 * time.Millisecond})
			err, ok := returned(t, do(p, func() { time.Sleep(time.Second) }, func() {}), patience, "a job of 1s with cfg.QueueTimeout 500ms")
			if ok && err != nil {
				t.Errorf("Do returned %v for a job that found the worker free and ran 1s; want nil: cfg.QueueTimeout bounds the wait in the queue only", err)
			}
		}},
		{"cfg.QueueTimeout 0 means no limit: a job waits as long as it takes", func(t *testing.T) {
			p := started(t, pool.Config{Workers: 1, Queue: 1})
			g := newGate(t)
			occupy(t, p, g)
			errs := do(p, func() {}, func() {})
			waitStats(t, p, pool.Stats{Busy: 1, Queued: 1}, "the second job waits")
			if err, waiting := stillWaiting(errs); !waiting {
				t.Fatalf("Do returned %v while the worker was busy, with cfg.QueueTimeout 0; want it to wait: 0 is no limit", err)
			}
			g.open()
			if err, ok := returned(t, errs, patience, "the waiting job, once the worker is free"); ok && err != nil {
				t.Errorf("Do returned %v; want nil", err)
			}
		}},
		{"a job whose ctx is done while it waits is not run: Do returns ctx's error", func(t *testing.T) {
			p := started(t, pool.Config{Workers: 1, Queue: 1})
			g := newGate(t)
			occupy(t, p, g)
			ctx, cancel := context.WithCancel(t.Context())
			var ran atomic.Bool
			errs := async(p, ctx, func() { ran.Store(true) }, func() {})
			waitStats(t, p, pool.Stats{Busy: 1, Queued: 1}, "the second job waits")
			cancel()
			if err, ok := returned(t, errs, patience, "a waiting job whose ctx was cancelled"); ok && !errors.Is(err, context.Canceled) {
				t.Errorf("Do returned %v; want ctx's error, context.Canceled", err)
			}
			waitStats(t, p, pool.Stats{Busy: 1}, "the job given up on no longer waits")
			g.open()
			returned(t, do(p, func() {}, func() {}), patience, "a job once the worker is free")
			if ran.Load() {
				t.Error("the job whose ctx was cancelled ran once the worker was free; want it dropped")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, tt.check)
	}
}
