package preforktest

import (
	"context"
	"errors"
	"log"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"course/chapters/prefork"
)

// Run runs a master until ctx is done, with the signals it is sent on signals, as Master.Run does.
type Run func(ctx context.Context, signals <-chan os.Signal) error

// New makes a master from cfg: a chapter's own, or prefork.New's.
type New func(cfg prefork.Config) Run

// Margins that hold on a loaded machine: how long a master may take to react, and how long a test waits
// for what must happen.
const (
	react   = 2 * time.Second
	beat    = 20 * time.Millisecond
	timeout = 300 * time.Millisecond
)

// harness is one master under test, with its pretend workers.
type harness struct {
	t       *testing.T
	s       *Spawner
	sig     chan os.Signal
	cancel  context.CancelFunc
	done    chan error
	closed  atomic.Bool // the listener was closed
	workers int
}

// listener records whether the master closed it.
type listener struct{ closed *atomic.Bool }

func (l listener) Close() error { l.closed.Store(true); return nil }

// start runs a master made by newMaster with n workers that boot with boot, and tweak applied to its
// Config. The master is stopped and every pretend worker ended when the test ends.
func start(t *testing.T, newMaster New, n int, boot func(*Process), tweak func(*prefork.Config)) *harness {
	t.Helper()
	h := &harness{t: t, s: &Spawner{Boot: boot}, sig: make(chan os.Signal, 4), done: make(chan error, 1), workers: n}
	cfg := prefork.Config{
		Workers:         n,
		Timeout:         timeout,
		ShutdownTimeout: time.Second,
		BootFailures:    3,
		Spawner:         h.s,
		Listener:        listener{&h.closed},
		Log:             testLogger(t),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	run := newMaster(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- run(ctx, h.sig) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
			t.Errorf("the master did not return within 5s of its context's end")
		}
		for _, p := range h.s.All() {
			p.Exit(errors.New("test over"))
		}
	})
	return h
}

// await fails the test unless cond holds within react, and at once if the master returns meanwhile.
func (h *harness) await(what string, cond func() bool) {
	h.t.Helper()
	var ran error
	returned := false
	ok := h.s.Await(react, func() bool {
		select {
		case ran = <-h.done:
			h.done <- ran
			returned = true
			return true
		default:
		}
		return cond()
	})
	switch {
	case returned && !cond():
		h.t.Fatalf("the master returned (%v) where %s; workers: %v", ran, what, describe(h.s.All()))
	case !ok:
		h.t.Fatalf("after %v: %s; workers: %v", react, what, describe(h.s.All()))
	}
}

// alive waits until exactly n workers are alive.
func (h *harness) alive(n int, why string) []*Process {
	h.t.Helper()
	h.await(why, func() bool { return len(h.s.Alive()) == n })
	return h.s.Alive()
}

// ready waits until exactly n workers are alive, all of them ready.
func (h *harness) ready(n int, why string) []*Process {
	h.t.Helper()
	h.await(why, func() bool {
		ps := h.s.Alive()
		for _, p := range ps {
			if !p.IsReady() {
				return false
			}
		}
		return len(ps) == n
	})
	return h.s.Alive()
}

// stopped waits for Run to return, and returns its error.
func (h *harness) stopped(within time.Duration) error {
	h.t.Helper()
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		return err
	case <-time.After(within):
		h.t.Fatalf("the master was still running after %v", within)
		return nil
	}
}

// running fails the test if Run has returned.
func (h *harness) running() {
	h.t.Helper()
	select {
	case err := <-h.done:
		h.done <- err
		h.t.Fatalf("the master returned (%v) when it should go on", err)
	default:
	}
}

// describe lists pretend workers for a message: "worker 1 (pid 1001) alive [SIGTERM]".
func describe(ps []*Process) string {
	var parts []string
	for _, p := range ps {
		s := p.String()
		if p.Exited() {
			s += " exited"
		} else {
			s += " alive"
		}
		if sigs := p.Signals(); len(sigs) > 0 {
			var names []string
			for _, sig := range sigs {
				names = append(names, signalName(sig))
			}
			s += " [" + strings.Join(names, " ") + "]"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "none started"
	}
	return strings.Join(parts, "; ")
}

func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		switch s {
		case syscall.SIGTERM:
			return "SIGTERM"
		case syscall.SIGKILL:
			return "SIGKILL"
		case syscall.SIGABRT:
			return "SIGABRT"
		case syscall.SIGINT:
			return "SIGINT"
		}
	}
	return sig.String()
}

// Respawn checks that a master starts Workers workers and starts another for each that exits, however it
// exits, without signalling the others.
func Respawn(t *testing.T, newMaster New) {
	t.Run("starts -workers workers", func(t *testing.T) {
		h := start(t, newMaster, 3, Healthy(beat), nil)
		ps := h.alive(3, "3 workers should be alive (Workers: 3)")
		seen := map[int]bool{}
		for _, p := range ps {
			if seen[p.ID] {
				t.Fatalf("two workers have id %d: each worker gets an id of its own", p.ID)
			}
			seen[p.ID] = true
		}
		time.Sleep(3 * beat)
		if n := len(h.s.All()); n != 3 {
			t.Fatalf("%d workers were started, want 3: %s", n, describe(h.s.All()))
		}
	})
	for _, exit := range []struct {
		name string
		err  error
	}{
		{"killed (kill -9)", errors.New("signal: killed")},
		{"crashed (exit status 3)", errors.New("exit status 3")},
		{"recycled (exit status 0)", nil},
	} {
		t.Run("a worker "+exit.name+" is replaced", func(t *testing.T) {
			h := start(t, newMaster, 2, Healthy(beat), nil)
			ps := h.alive(2, "2 workers should be alive (Workers: 2)")
			ps[0].Exit(exit.err)
			h.await("a new worker should replace the one that exited", func() bool { return len(h.s.All()) == 3 })
			h.alive(2, "2 workers should be alive again")
			if sigs := ps[1].Signals(); len(sigs) > 0 {
				t.Errorf("the other worker got %v: it should be left alone", sigs)
			}
			if next := h.s.All()[2]; next.ID == ps[0].ID || next.ID == ps[1].ID {
				t.Errorf("the new worker has id %d, already used: ids are never reused", next.ID)
			}
		})
	}
}

// Stop checks that a master stops its workers gracefully when its context ends, kills those that do not
// stop in time, and closes the listener.
func Stop(t *testing.T, newMaster New) {
	t.Run("SIGTERM to every worker, then return", func(t *testing.T) {
		h := start(t, newMaster, 3, Healthy(beat), nil)
		ps := h.alive(3, "3 workers should be alive")
		for _, p := range ps {
			p.Drain = 100 * time.Millisecond
		}
		h.cancel()
		if err := h.stopped(react); err != nil {
			t.Fatalf("Run returned %v on a graceful stop, want nil", err)
		}
		for _, p := range ps {
			if sigs := p.Signals(); len(sigs) != 1 || sigs[0] != syscall.SIGTERM {
				t.Errorf("%s got %v, want SIGTERM alone: a graceful stop lets each worker finish its requests", p, sigs)
			}
			if !p.Exited() {
				t.Errorf("%s is still running: Run must return only once every worker has exited", p)
			}
		}
		if !h.closed.Load() {
			t.Errorf("the listener was not closed: once the workers close their copies, the socket must close so that new connections are refused")
		}
	})
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(signalName(sig)+" on the signals channel stops it too", func(t *testing.T) {
			h := start(t, newMaster, 2, Healthy(beat), nil)
			ps := h.alive(2, "2 workers should be alive")
			h.sig <- sig
			if err := h.stopped(react); err != nil {
				t.Fatalf("Run returned %v after %s on its signals channel, want nil: a graceful stop", err, signalName(sig))
			}
			for _, p := range ps {
				if !p.Got(syscall.SIGTERM) || !p.Exited() {
					t.Errorf("%s after %s on the signals channel: want it told to stop (SIGTERM) and exited, as when ctx ends", p, signalName(sig))
				}
			}
		})
	}
	t.Run("SIGKILL after ShutdownTimeout", func(t *testing.T) {
		h := start(t, newMaster, 1, Healthy(beat), func(c *prefork.Config) { c.ShutdownTimeout = 300 * time.Millisecond })
		p := h.alive(1, "1 worker should be alive")[0]
		p.OnSignal = func(p *Process, sig os.Signal) {
			if sig == syscall.SIGKILL {
				p.Exit(errors.New("signal: killed"))
			}
		}
		began := time.Now()
		h.cancel()
		h.stopped(react + time.Second)
		took := time.Since(began)
		if !p.Got(syscall.SIGKILL) {
			t.Fatalf("a worker that ignores SIGTERM got %v, want SIGTERM then SIGKILL after ShutdownTimeout", p.Signals())
		}
		if took < 300*time.Millisecond {
			t.Errorf("the worker was killed %v after the stop began, before ShutdownTimeout (300ms)", took.Round(time.Millisecond))
		}
	})
}

// Scale checks SIGTTIN (one worker more) and SIGTTOU (one fewer, the oldest, never below one).
func Scale(t *testing.T, newMaster New) {
	t.Run("SIGTTIN adds a worker", func(t *testing.T) {
		h := start(t, newMaster, 2, Healthy(beat), nil)
		h.alive(2, "2 workers should be alive")
		h.sig <- syscall.SIGTTIN
		h.alive(3, "3 workers should be alive after SIGTTIN")
	})
	t.Run("SIGTTOU stops the oldest worker", func(t *testing.T) {
		h := start(t, newMaster, 3, Healthy(beat), nil)
		ps := h.alive(3, "3 workers should be alive")
		h.sig <- syscall.SIGTTOU
		h.alive(2, "2 workers should be alive after SIGTTOU")
		if !ps[0].Exited() || !ps[0].Got(syscall.SIGTERM) {
			t.Errorf("SIGTTOU: want the oldest worker told to stop with SIGTERM; workers: %s", describe(h.s.All()))
		}
		time.Sleep(3 * beat)
		if n := len(h.s.All()); n != 3 {
			t.Errorf("%d workers were started, want 3: the worker stopped for SIGTTOU must not be replaced", n)
		}
	})
	t.Run("SIGTTOU never goes below one worker", func(t *testing.T) {
		h := start(t, newMaster, 1, Healthy(beat), nil)
		p := h.alive(1, "1 worker should be alive")[0]
		h.sig <- syscall.SIGTTOU
		time.Sleep(10 * beat)
		if p.Exited() || len(p.Signals()) > 0 {
			t.Errorf("SIGTTOU with one worker: %s; the last worker must stay", describe(h.s.All()))
		}
	})
}

// Timeout checks that a master kills a worker that stopped beating (SIGABRT, then SIGKILL), and only
// such a worker, and replaces it.
func Timeout(t *testing.T, newMaster New) {
	t.Run("a silent worker is killed and replaced", func(t *testing.T) {
		h := start(t, newMaster, 2, Healthy(beat), nil)
		ps := h.ready(2, "2 workers should be ready")
		hung := time.Now()
		ps[0].Hang()
		h.await("the worker that stopped beating should be killed", ps[0].Exited)
		took := time.Since(hung)
		if !ps[0].Got(syscall.SIGABRT) && !ps[0].Got(syscall.SIGKILL) {
			t.Errorf("the silent worker got %v, want SIGABRT (or SIGKILL)", ps[0].Signals())
		}
		if took < timeout-beat {
			t.Errorf("the silent worker was killed %v after its last beat, before the timeout (%v)", took.Round(time.Millisecond), timeout)
		}
		h.alive(2, "a new worker should replace the one killed")
		if sigs := ps[1].Signals(); len(sigs) > 0 {
			t.Errorf("the worker that kept beating got %v", sigs)
		}
	})
	t.Run("a beating worker is left alone", func(t *testing.T) {
		h := start(t, newMaster, 1, Healthy(beat), nil)
		p := h.alive(1, "1 worker should be alive")[0]
		time.Sleep(3 * timeout)
		if sigs := p.Signals(); len(sigs) > 0 {
			t.Errorf("a worker beating every %v got %v within %v (timeout %v)", beat, sigs, 3*timeout, timeout)
		}
	})
	t.Run("SIGKILL when SIGABRT does not end it", func(t *testing.T) {
		h := start(t, newMaster, 1, Healthy(beat), nil)
		p := h.ready(1, "1 worker should be ready")[0]
		p.OnSignal = func(p *Process, sig os.Signal) {
			if sig == syscall.SIGKILL {
				p.Exit(errors.New("signal: killed"))
			}
		}
		p.Hang()
		h.await("a silent worker that ignores SIGABRT should get SIGKILL", p.Exited)
	})
	t.Run("a worker that never says it is ready is killed", func(t *testing.T) {
		h := start(t, newMaster, 1, func(p *Process) {}, func(c *prefork.Config) { c.BootFailures = 100 })
		p := h.alive(1, "1 worker should be alive")[0]
		h.await("a worker silent since it started should be killed after the timeout: its boot counts against it", p.Exited)
	})
	t.Run("a draining worker has ShutdownTimeout, not Timeout", func(t *testing.T) {
		h := start(t, newMaster, 2, Healthy(beat), func(c *prefork.Config) { c.ShutdownTimeout = 3 * time.Second })
		ps := h.ready(2, "2 workers should be ready")
		ps[0].Hang()
		ps[0].Drain = 3 * timeout // silent all along, longer than Timeout, well within ShutdownTimeout
		h.sig <- syscall.SIGTTOU  // the oldest, ps[0], is told to stop
		h.await("the worker stopped by SIGTTOU should drain and exit", ps[0].Exited)
		if sigs := ps[0].Signals(); len(sigs) != 1 || sigs[0] != syscall.SIGTERM {
			t.Errorf("a worker draining for %v (Timeout %v, ShutdownTimeout 3s) got %v, want SIGTERM alone: once told to stop, a "+
				"worker has ShutdownTimeout to finish its requests, and is not killed for its silence", 3*timeout, timeout, sigs)
		}
	})
}

// BootFailures checks that a master gives up with an error when its workers keep exiting before they are
// ready, and not when they do so now and then.
func BootFailures(t *testing.T, newMaster New) {
	t.Run("gives up after BootFailures in a row", func(t *testing.T) {
		h := start(t, newMaster, 2, FailsToBoot, nil) // BootFailures: 3
		err := h.stopped(react)
		if err == nil {
			t.Fatalf("Run returned nil; want an error that says the workers fail to boot")
		}
		if n := len(h.s.All()); n > 3+2 {
			t.Errorf("%d workers were started before the master gave up, want about BootFailures (3): %v", n, err)
		}
		if !strings.Contains(strings.ToLower(err.Error()), "boot") {
			t.Errorf("Run returned %q: say that the workers fail to boot", err)
		}
	})
	t.Run("a program that cannot be started counts as a failure", func(t *testing.T) {
		h := start(t, newMaster, 1, Healthy(beat), nil)
		p := h.ready(1, "the first worker should be ready")[0]
		h.s.mu.Lock()
		h.s.Fail = errors.New("fork/exec /nonexistent: no such file or directory")
		h.s.mu.Unlock()
		p.Exit(errors.New("signal: killed"))
		if err := h.stopped(react); err == nil {
			t.Fatalf("Run returned nil; want an error")
		}
	})
	t.Run("a worker told to stop before it is ready did not fail to boot", func(t *testing.T) {
		h := start(t, newMaster, 2, SlowBoot(time.Hour, beat), func(c *prefork.Config) { c.BootFailures = 1; c.Timeout = 0 })
		ps := h.alive(2, "2 workers should be alive, booting")
		h.sig <- syscall.SIGTTOU
		h.await("SIGTTOU should stop the oldest worker, booting or not", ps[0].Exited)
		time.Sleep(5 * beat)
		h.running()
		if ps[1].Exited() || len(ps[1].Signals()) > 0 {
			t.Errorf("%s: %v; the other worker must boot on", ps[1], ps[1].Signals())
		}
		h.cancel()
		if err := h.stopped(react); err != nil {
			t.Errorf("stopped while its worker was booting, Run returned %v, want nil: a worker told to stop did not fail to boot", err)
		}
	})
	t.Run("a worker that boots resets the count", func(t *testing.T) {
		var n atomic.Int32
		h := start(t, newMaster, 1, func(p *Process) {
			if n.Add(1)%2 == 1 { // every other worker fails: never 3 in a row
				FailsToBoot(p)
				return
			}
			p.Ready()
			p.BeatEvery(beat)
			time.Sleep(2 * beat)
			p.Exit(errors.New("signal: killed"))
		}, nil)
		h.await("8 workers should have been started", func() bool { return len(h.s.All()) >= 8 })
		h.running()
	})
}

// Reload checks SIGHUP: the new workers are ready before the old ones are told to stop, the listener stays
// open, and a new generation that cannot boot leaves the old one serving.
func Reload(t *testing.T, newMaster New) {
	t.Run("new workers first, then the old ones stop", func(t *testing.T) {
		const boot = 300 * time.Millisecond
		h := start(t, newMaster, 2, Healthy(beat), nil)
		old := h.ready(2, "2 workers should be ready")
		h.boot(SlowBoot(boot, beat))
		hup := time.Now()
		h.sig <- syscall.SIGHUP
		h.await("SIGHUP should start 2 new workers", func() bool { return len(h.s.All()) == 4 })
		h.await("once the new workers are ready, the old ones should be told to stop", func() bool {
			return old[0].Exited() && old[1].Exited()
		})
		for _, p := range old {
			if sigs := p.Signals(); len(sigs) != 1 || sigs[0] != syscall.SIGTERM {
				t.Errorf("old %s got %v, want SIGTERM alone: it drains its requests", p, sigs)
			}
		}
		if took := time.Since(hup); took < boot {
			t.Errorf("the old workers were stopped %v after SIGHUP, before the new ones were ready (%v): "+
				"a new worker that fails to boot would leave nobody serving", took.Round(time.Millisecond), boot)
		}
		h.alive(2, "the 2 new workers should be alive")
		if h.closed.Load() {
			t.Errorf("the listener was closed during the reload: connections waiting in its queue are lost")
		}
	})
	t.Run("new workers that cannot boot leave the old ones serving", func(t *testing.T) {
		h := start(t, newMaster, 2, Healthy(beat), nil) // BootFailures: 3
		old := h.ready(2, "2 workers should be ready")
		h.boot(FailsToBoot)
		h.sig <- syscall.SIGHUP
		h.await("the new workers should be tried BootFailures (3) times", func() bool { return len(h.s.All()) >= 2+3 })
		time.Sleep(5 * beat)
		h.running()
		for _, p := range old {
			if p.Exited() || len(p.Signals()) > 0 {
				t.Errorf("old %s: %v; it must go on serving while the new workers cannot boot", p, p.Signals())
			}
		}
		if n := len(h.s.All()); n > 2+3+2 {
			t.Errorf("%d workers were started: a reload whose workers fail to boot must stop trying, not loop", n)
		}
	})
	t.Run("SIGTTOU during a reload stops the oldest new worker", func(t *testing.T) {
		// No Timeout: the new workers take longer than that to boot.
		h := start(t, newMaster, 2, Healthy(beat), func(c *prefork.Config) { c.BootFailures, c.Timeout = 1, 0 })
		old := h.ready(2, "2 workers should be ready")
		h.boot(SlowBoot(time.Second, beat))
		h.sig <- syscall.SIGHUP
		h.await("SIGHUP should start 2 new workers", func() bool { return len(h.s.All()) == 4 })
		fresh := h.s.All()[2:]
		h.sig <- syscall.SIGTTOU
		h.await("SIGTTOU should stop the oldest worker of the new generation", fresh[0].Exited)
		if !fresh[0].Got(syscall.SIGTERM) {
			t.Errorf("%s, the oldest new worker, got %v, want SIGTERM", fresh[0], fresh[0].Signals())
		}
		for _, p := range old {
			if sigs := p.Signals(); len(sigs) > 0 {
				t.Errorf("old %s got %v while the new generation was booting: SIGTTOU removes a worker of the generation "+
					"being started; the old one serves until that generation is ready", p, sigs)
			}
		}
		h.await("once the remaining new worker is ready, the old ones should stop", func() bool { return old[0].Exited() && old[1].Exited() })
		h.alive(1, "one worker, the remaining new one, should be left")
		h.running()
		if n := len(h.s.All()); n != 4 {
			t.Errorf("%d workers were started, want 4: %s", n, describe(h.s.All()))
		}
	})
	t.Run("an old worker that exits during a reload is not replaced", func(t *testing.T) {
		h := start(t, newMaster, 2, Healthy(beat), func(c *prefork.Config) { c.Timeout = 0 })
		old := h.ready(2, "2 workers should be ready")
		h.boot(SlowBoot(time.Second, beat))
		h.sig <- syscall.SIGHUP
		h.await("SIGHUP should start 2 new workers", func() bool { return len(h.s.All()) == 4 })
		old[0].Exit(errors.New("exit status 3"))
		time.Sleep(10 * beat)
		if n := len(h.s.All()); n != 4 {
			t.Errorf("%d workers were started: an old worker that exits during a reload must not be replaced, the new "+
				"generation is on its way: %s", n, describe(h.s.All()))
		}
		h.await("once the new workers are ready, the other old one should stop", old[1].Exited)
		h.alive(2, "the 2 new workers should be alive")
	})
	t.Run("a second SIGHUP stops the reload under way; the old workers serve until the newest are ready", func(t *testing.T) {
		h := start(t, newMaster, 2, Healthy(beat), func(c *prefork.Config) { c.Timeout = 0 }) // BootFailures: 3
		first := h.ready(2, "2 workers should be ready")
		h.boot(SlowBoot(time.Second, beat))
		h.sig <- syscall.SIGHUP
		h.await("SIGHUP should start 2 new workers", func() bool { return len(h.s.All()) == 4 })
		second := h.s.All()[2:]
		h.boot(FailsToBoot)
		h.sig <- syscall.SIGHUP
		h.await("a second SIGHUP should stop the workers of the first reload, which never completed", func() bool {
			return second[0].Exited() && second[1].Exited()
		})
		for _, p := range second {
			if sigs := p.Signals(); len(sigs) != 1 || sigs[0] != syscall.SIGTERM {
				t.Errorf("%s, of the reload superseded, got %v, want SIGTERM alone", p, sigs)
			}
		}
		h.await("the third generation should be tried BootFailures (3) times", func() bool { return len(h.s.All()) >= 4+3 })
		time.Sleep(5 * beat)
		h.running()
		for _, p := range first {
			if p.Exited() || len(p.Signals()) > 0 {
				t.Errorf("first %s: %v; the last complete generation serves until a newer one is complete, and serves on when "+
					"the newest cannot boot", p, p.Signals())
			}
		}
	})
}

// boot sets how the workers started from now on boot.
func (h *harness) boot(b func(p *Process)) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	h.s.Boot = b
}

// testLogger returns a logger that writes to the test's log.
func testLogger(t *testing.T) *log.Logger { return log.New(testWriter{t}, "master: ", 0) }

// testWriter writes to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
