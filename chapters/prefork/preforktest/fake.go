// Package preforktest tests a master of worker processes without starting processes: a prefork.Spawner of
// pretend workers, for which a test decides when each says it is ready, beats, hangs or exits, and which
// record the signals the master sends them; and the scenarios that chapter 4's step tests run on the
// learner's master (Respawn, Stop, Scale, Timeout, BootFailures, Reload), each a rule of the master's
// behaviour checked from outside. It is test scaffolding: none of the master's logic is here, and reading
// it spoils nothing.
package preforktest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"course/chapters/prefork"
)

// FirstPid is the pid of the first pretend worker; the next ones count up from it.
const FirstPid = 1001

// Spawner starts pretend workers. Its zero value starts workers that do nothing until told: set Boot to
// give them a behaviour.
type Spawner struct {
	// Boot, if not nil, runs on a goroutine of its own for each new worker: it plays the worker's part
	// (Healthy, Crashing, ...).
	Boot func(p *Process)
	// Fail, if not nil, is returned by Spawn instead of starting a worker (a program that cannot be run).
	Fail error

	mu      sync.Mutex
	procs   []*Process
	changed chan struct{} // closed and replaced when a worker is started or exits
}

// Spawn starts a pretend worker with the given id.
func (s *Spawner) Spawn(id int) (prefork.Process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return nil, s.Fail
	}
	r, w := io.Pipe()
	p := &Process{ID: id, s: s, pid: FirstPid + len(s.procs), r: r, w: w, exited: make(chan struct{})}
	s.procs = append(s.procs, p)
	s.notify()
	if s.Boot != nil {
		go s.Boot(p)
	}
	return p, nil
}

// notify wakes the goroutines of Await; s.mu is held.
func (s *Spawner) notify() {
	if s.changed != nil {
		close(s.changed)
	}
	s.changed = make(chan struct{})
}

// All returns every worker started so far, in order.
func (s *Spawner) All() []*Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.procs)
}

// Alive returns the workers started that have not exited, in order.
func (s *Spawner) Alive() []*Process {
	var live []*Process
	for _, p := range s.All() {
		if !p.Exited() {
			live = append(live, p)
		}
	}
	return live
}

// Await waits up to d until cond holds, checking it each time a worker is started or exits (and every
// 10 ms), and reports whether it did.
func (s *Spawner) Await(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		s.mu.Lock()
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		changed := s.changed
		s.mu.Unlock()
		if cond() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		select {
		case <-changed:
		case <-time.After(min(left, 10*time.Millisecond)):
		}
	}
}

// Process is a pretend worker. It implements prefork.Process.
type Process struct {
	ID int // the id the master gave it

	s   *Spawner
	pid int
	r   *io.PipeReader
	w   *io.PipeWriter

	ready atomic.Bool // it wrote Ready
	hung  atomic.Bool // BeatEvery no longer beats

	mu      sync.Mutex
	signals []os.Signal
	exited  chan struct{}
	err     error
	// OnSignal, if set before the master signals the worker, replaces the default reaction: SIGTERM drains
	// (exits with status 0 after Drain), SIGABRT and SIGKILL end it at once.
	OnSignal func(p *Process, sig os.Signal)
	// Drain is how long the worker takes to exit after SIGTERM.
	Drain time.Duration
}

// Pid returns the pretend pid.
func (p *Process) Pid() int { return p.pid }

// Beats returns what the worker "writes" on its heartbeat pipe.
func (p *Process) Beats() io.Reader { return p.r }

// Signal records sig and reacts to it (see OnSignal).
func (p *Process) Signal(sig os.Signal) error {
	p.mu.Lock()
	if p.isExited() {
		p.mu.Unlock()
		return errors.New("os: process already finished")
	}
	p.signals = append(p.signals, sig)
	react := p.OnSignal
	p.mu.Unlock()
	p.s.mu.Lock()
	p.s.notify()
	p.s.mu.Unlock()
	if react != nil {
		react(p, sig)
		return nil
	}
	switch sig {
	case syscall.SIGTERM:
		go func() {
			time.Sleep(p.Drain)
			p.Exit(nil)
		}()
	case syscall.SIGKILL:
		p.Exit(errors.New("signal: killed"))
	case syscall.SIGABRT:
		p.Exit(errors.New("exit status 2")) // a Go program dumps its goroutines and exits with 2
	}
	return nil
}

// Wait waits until the worker has exited.
func (p *Process) Wait() error {
	<-p.exited
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Ready writes the byte that says the worker serves.
func (p *Process) Ready() {
	p.write(prefork.Ready)
	p.ready.Store(true)
}

// IsReady reports whether the worker said it serves.
func (p *Process) IsReady() bool { return p.ready.Load() }

// Beat writes one beat.
func (p *Process) Beat() { p.write(prefork.Beat) }

// write writes b on the pipe, unless the worker has exited.
func (p *Process) write(b byte) {
	p.w.Write([]byte{b}) // fails once the worker has exited (the pipe is closed)
}

// BeatEvery beats every d from a goroutine until Hang is called or the worker exits.
func (p *Process) BeatEvery(d time.Duration) {
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if !p.hung.Load() {
					p.Beat()
				}
			case <-p.exited:
				return
			}
		}
	}()
}

// Hang stops the beats of BeatEvery, for good: the worker is stuck.
func (p *Process) Hang() { p.hung.Store(true) }

// Exit ends the worker with err (nil: exit status 0): its pipe reaches end of file, then Wait returns.
func (p *Process) Exit(err error) {
	p.mu.Lock()
	if p.isExited() {
		p.mu.Unlock()
		return
	}
	p.err = err
	p.w.Close()
	close(p.exited)
	p.mu.Unlock()
	p.s.mu.Lock()
	p.s.notify()
	p.s.mu.Unlock()
}

// isExited reports whether the worker has exited; p.mu is held.
func (p *Process) isExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Exited reports whether the worker has exited.
func (p *Process) Exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.isExited()
}

// Signals returns the signals the master sent, in order.
func (p *Process) Signals() []os.Signal {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.signals)
}

// Got reports whether the master sent sig.
func (p *Process) Got(sig os.Signal) bool { return slices.Contains(p.Signals(), sig) }

func (p *Process) String() string { return fmt.Sprintf("worker %d (pid %d)", p.ID, p.pid) }

// Healthy is a Boot that says the worker is ready at once and beats every beat until it is told to stop.
func Healthy(beat time.Duration) func(p *Process) {
	return func(p *Process) {
		p.Ready()
		p.BeatEvery(beat)
	}
}

// SlowBoot is a Boot that says the worker is ready after boot, then beats every beat.
func SlowBoot(boot, beat time.Duration) func(p *Process) {
	return func(p *Process) {
		select {
		case <-time.After(boot):
		case <-p.exited:
			return
		}
		p.Ready()
		p.BeatEvery(beat)
	}
}

// FailsToBoot is a Boot that exits with status 1 at once, before it is ready.
func FailsToBoot(p *Process) { p.Exit(errors.New("exit status 1")) }
