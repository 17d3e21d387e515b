package main

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"course/chapters/pool"
)

// Step 5: graceful shutdown. README: "Step 5: graceful shutdown".

func TestStep5Shutdown(t *testing.T) {
	tests := []struct {
		rule  string
		check func(t *testing.T)
	}{
		{"serveConns waits for its handlers at most grace: a handler that runs on does not hold the server", func(t *testing.T) {
			const grace = 300 * time.Millisecond
			g := newGate(t)
			in := make(chan string, 1)
			s := serving(t, holding(g, in, &gauge{}), grace)
			s.dial(t, "A")
			arrived(t, in, "A", "accept connections with launch.Accept, and call handle for each (step 1)")
			start := time.Now()
			s.cancel()
			err, ok := s.stopped(grace + patience)
			took := time.Since(start).Round(time.Millisecond)
			switch {
			case !ok:
				t.Errorf("serveConns still waits %v after ctx was cancelled, for a handler that does not return, with grace %v: wait for the handlers at most grace", took, grace)
			case took < grace-20*time.Millisecond:
				t.Errorf("serveConns returned %v after ctx was cancelled, before grace (%v) had passed, while a handler still ran", took, grace)
			case err != nil:
				t.Errorf("serveConns returned %v; want nil: the server was told to stop", err)
			}
		}},
		{"handlers that end within grace: serveConns returns as soon as the last one has", func(t *testing.T) {
			const grace, runs = 5 * time.Second, 200 * time.Millisecond
			g := newGate(t)
			in := make(chan string, 1)
			s := serving(t, holding(g, in, &gauge{}), grace)
			s.dial(t, "A")
			arrived(t, in, "A", "accept connections with launch.Accept, and call handle for each (step 1)")
			start := time.Now()
			s.cancel()
			time.AfterFunc(runs, g.open)
			_, ok := s.stopped(patience)
			if took := time.Since(start).Round(time.Millisecond); !ok {
				t.Errorf("serveConns still waits %v after ctx was cancelled, though its only handler returned after %v: return once every handler has, without waiting out grace (%v)", took, runs, grace)
			}
		}},
		{"Close: a job waiting for a worker is not run, and its Do returns pool.ErrClosed", func(t *testing.T) {
			p := made(t, pool.Config{Workers: 1, Queue: 2})
			g := newGate(t)
			running := occupy(t, p, g)
			var ran atomic.Bool
			queued := do(p, func() { ran.Store(true) }, func() {})
			waitStats(t, p, pool.Stats{Busy: 1, Queued: 1}, "the second job waits")
			closed := make(chan error, 1)
			go func() { closed <- p.Close(context.Background()) }()
			if err, ok := returned(t, queued, patience, "a job waiting for a worker when Close was called"); ok && !errors.Is(err, pool.ErrClosed) {
				t.Errorf("Do returned %v for a job that waited when Close was called; want pool.ErrClosed (a 503)", err)
			}
			g.open()
			if err, ok := returned(t, running, patience, "the job running when Close was called"); ok && err != nil {
				t.Errorf("Do returned %v for the job that ran when Close was called; want nil: it is finished", err)
			}
			returned(t, closed, patience, "Close") // Close's own rules are the next cases'
			if ran.Load() {
				t.Error("a job that waited for a worker when Close was called ran: once closed, the pool runs no job that has not started")
			}
		}},
		{"Close waits for the jobs running, then returns nil", func(t *testing.T) {
			p := made(t, pool.Config{Workers: 2, Queue: 2})
			g := newGate(t)
			running := occupy(t, p, g)
			closed := make(chan error, 1)
			go func() { closed <- p.Close(context.Background()) }()
			if err, waiting := stillWaiting(closed); !waiting {
				t.Fatalf("Close returned %v while a job still ran; want it to wait for the job", err)
			}
			g.open()
			if err, ok := returned(t, closed, patience, "Close, once the job has ended"); ok && err != nil {
				t.Errorf("Close returned %v; want nil once the jobs running have ended", err)
			}
			if err, ok := returned(t, running, patience, "the job running when Close was called"); ok && err != nil {
				t.Errorf("Do returned %v; want nil", err)
			}
		}},
		{"after Close, Do fails at once with pool.ErrClosed", func(t *testing.T) {
			p := made(t, pool.Config{Workers: 1, Queue: 1})
			if !within(t, patience, "Close", func() { p.Close(context.Background()) }) {
				return
			}
			var ran atomic.Bool
			if err, ok := returned(t, do(p, func() { ran.Store(true) }, func() {}), patience, "a job after Close"); ok && !errors.Is(err, pool.ErrClosed) {
				t.Errorf("Do returned %v after Close; want pool.ErrClosed", err)
			}
			if ran.Load() {
				t.Error("a job ran after Close")
			}
		}},
		{"Close gives up when ctx is done first, and returns ctx's error", func(t *testing.T) {
			p := made(t, pool.Config{Workers: 1, Queue: 1})
			g := newGate(t)
			occupy(t, p, g)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			var err error
			if within(t, patience, "Close with a context of 200ms, while a job runs on", func() { err = p.Close(ctx) }) && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Close returned %v; want ctx's error, context.DeadlineExceeded", err)
			}
		}},
		{"Close does not wait for an abandoned job", func(t *testing.T) {
			p := made(t, pool.Config{Workers: 1, Queue: 1, RunTimeout: 200 * time.Millisecond})
			hang := newGate(t)
			abandon(t, p, hang)
			var err error
			if within(t, patience, "Close, while an abandoned job runs on", func() { err = p.Close(context.Background()) }) && err != nil {
				t.Errorf("Close returned %v; want nil: no job runs but the abandoned one, which Close does not wait for", err)
			}
		}},
		{"once Close has returned, the workers have left", func(t *testing.T) {
			before := runtime.NumGoroutine()
			p := made(t, pool.Config{Workers: 8, Queue: 8})
			for range 20 {
				if err, ok := returned(t, do(p, func() {}, func() {}), patience, "a job"); ok && err != nil {
					t.Fatalf("Do returned %v; want nil", err)
				}
			}
			if !within(t, patience, "Close", func() { p.Close(context.Background()) }) {
				return
			}
			if !eventually(patience, func() bool { return runtime.NumGoroutine() <= before }) {
				t.Errorf("%d goroutines run after Close returned, %d before newPool: the 8 workers must leave once the pool is closed", runtime.NumGoroutine(), before)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, tt.check)
	}
}
