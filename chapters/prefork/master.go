package prefork

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"syscall"
	"time"
)

// Process is a worker process, as the master sees it.
type Process interface {
	Pid() int
	// Beats yields the bytes the worker writes on its heartbeat pipe; it ends (io.EOF) once the worker has
	// exited.
	Beats() io.Reader
	// Signal sends sig to the process.
	Signal(sig os.Signal) error
	// Wait waits until the process has exited, which it has once Beats has ended, and says how: nil for
	// exit status 0, an error such as "exit status 3" or "signal: killed" otherwise.
	Wait() error
}

// Spawner starts worker processes: Exec starts real ones; a test can start pretend ones.
type Spawner interface {
	// Spawn starts worker id. The ids a master gives are 1, 2, 3, ..., never reused.
	Spawn(id int) (Process, error)
}

// Defaults of Config.
const (
	DefaultShutdownTimeout = 30 * time.Second // gunicorn's graceful_timeout
	DefaultBootFailures    = 5
)

// killGrace is how long a worker killed for its silence has between SIGABRT, which asks a Go program for a
// dump of every goroutine's stack (where it was stuck), and SIGKILL.
const killGrace = time.Second

// tickEvery is how often the master looks for silent workers.
const tickEvery = 50 * time.Millisecond

// Config says what a Master runs.
type Config struct {
	Workers int           // how many workers to run (at least 1); SIGTTIN and SIGTTOU change it
	Timeout time.Duration // a worker silent this long is killed; 0 never kills
	// ShutdownTimeout is how long a worker told to stop (on shutdown, reload, SIGTTOU) has to finish its
	// requests before it is killed; 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// StopTimeout, if positive, replaces ShutdownTimeout when the master itself stops: a front end that has
	// already given its requests their time (chapter 5) gives the workers, which serve those same requests,
	// only a moment more.
	StopTimeout time.Duration
	// BootFailures is how many workers in a row may exit before they are ready before the master gives up;
	// 0 means DefaultBootFailures.
	BootFailures int
	Spawner      Spawner
	// Listener, if not nil, is closed when the master stops, so that once the workers have closed their
	// copies the socket is closed and new connections are refused. A reload never closes it.
	Listener io.Closer
	Log      *log.Logger // nil means log.Default()
}

// Master runs workers: it starts them, reaps those that exit and starts others in their place, kills those
// that stop beating, reloads them on SIGHUP, and changes their number on SIGTTIN and SIGTTOU. Its state
// belongs to the goroutine running Run; the goroutines that watch the workers only send it events.
type Master struct {
	cfg      Config
	log      *log.Logger
	events   chan event
	done     chan struct{} // closed when Run returns: the watching goroutines give up sending
	workers  map[int]*worker
	want     int   // Workers, as SIGTTIN and SIGTTOU changed it
	gen      int   // the generation of workers wanted; a reload starts a new one
	complete int   // the newest generation that was complete (all ready): what a failed reload falls back to
	lastGen  int   // the newest generation yet
	nextID   int   // the id of the last worker started
	failed   int   // workers in a row that exited before they were ready
	lastErr  error // how the last of them ended
}

// worker is the master's record of one worker process.
type worker struct {
	id, pid  int
	gen      int
	proc     Process
	ready    bool
	last     time.Time // the last byte from it, or its start
	stopping time.Time // when it was told to stop (SIGTERM); zero while it serves
	aborted  time.Time // when it was killed for its silence (SIGABRT); zero if not
	killed   bool      // SIGKILL was sent
}

// event is what a watching goroutine tells the master about a worker: a byte from its pipe, or its exit.
type event struct {
	w      *worker
	b      byte // Ready or Beat, when not exited
	exited bool
	err    error // how it exited
}

// New returns a master for cfg; Run starts it.
func New(cfg Config) *Master {
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.BootFailures <= 0 {
		cfg.BootFailures = DefaultBootFailures
	}
	m := &Master{cfg: cfg, log: cfg.Log, events: make(chan event), done: make(chan struct{}),
		workers: map[int]*worker{}, want: max(cfg.Workers, 1), gen: 1, complete: 1, lastGen: 1}
	if m.log == nil {
		m.log = log.Default()
	}
	return m
}

// Run starts the workers and manages them until ctx is done; then it stops them gracefully (SIGTERM, and
// SIGKILL after ShutdownTimeout), closes the listener and returns nil. It handles SIGHUP (reload), SIGTTIN
// and SIGTTOU (one worker more or less) from signals, and SIGTERM and SIGINT there too as a stop. It
// returns an error, after stopping every worker, when workers keep failing to boot.
func (m *Master) Run(ctx context.Context, signals <-chan os.Signal) error {
	defer close(m.done)
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	for {
		if err := m.manage(); err != nil {
			return m.stop(err)
		}
		select {
		case <-ctx.Done():
			return m.stop(nil)
		case sig := <-signals:
			if sig == syscall.SIGTERM || sig == syscall.SIGINT {
				return m.stop(nil)
			}
			m.signal(sig)
		case ev := <-m.events:
			if err := m.handle(ev); err != nil {
				return m.stop(err)
			}
		case now := <-tick.C:
			m.murder(now)
		}
	}
}

// manage starts and stops workers until the current generation has the number wanted, and stops the other
// generations once the current one is complete.
func (m *Master) manage() error {
	cur := m.current()
	for len(cur) < m.want {
		w, err := m.spawn()
		if err != nil {
			if err := m.bootFailed(nil, err); err != nil {
				return err
			}
			return nil // try again on the next tick, not in a tight loop
		}
		cur = append(cur, w)
	}
	for len(cur) > m.want { // SIGTTOU: the oldest of the current generation goes first
		m.retire(cur[0], "one worker fewer (SIGTTOU)")
		cur = cur[1:]
	}
	if !slices.ContainsFunc(cur, func(w *worker) bool { return !w.ready }) {
		for _, w := range m.sorted() {
			if w.gen != m.gen && w.stopping.IsZero() {
				m.retire(w, "replaced by a new worker (reload)")
			}
		}
		m.complete = m.gen
	}
	return nil
}

// spawn starts a worker of the current generation and a goroutine that watches it.
func (m *Master) spawn() (*worker, error) {
	m.nextID++
	p, err := m.cfg.Spawner.Spawn(m.nextID)
	if err != nil {
		return nil, err
	}
	w := &worker{id: m.nextID, pid: p.Pid(), gen: m.gen, proc: p, last: time.Now()}
	m.workers[w.id] = w
	go m.watch(w)
	return w, nil
}

// watch reads the beats of w until its pipe ends, then waits for its exit: the exit is sent after its last
// beat, so that a worker that said it was ready and then died is not taken for one that failed to boot.
func (m *Master) watch(w *worker) {
	send := func(ev event) bool {
		select {
		case m.events <- ev:
			return true
		case <-m.done:
			return false
		}
	}
	br := bufio.NewReader(w.proc.Beats())
	for {
		b, err := br.ReadByte()
		if err != nil {
			break
		}
		if !send(event{w: w, b: b}) {
			return
		}
	}
	err := w.proc.Wait()
	send(event{w: w, exited: true, err: err})
}

// handle takes an event from a watching goroutine.
func (m *Master) handle(ev event) error {
	w := ev.w
	if !ev.exited {
		w.last = time.Now()
		if ev.b == Ready && !w.ready {
			w.ready = true
			if w.gen == m.gen {
				m.failed = 0
			}
			m.log.Printf("worker %d (pid %d) is ready", w.id, w.pid)
		}
		return nil
	}
	delete(m.workers, w.id)
	status := "exit status 0"
	if ev.err != nil {
		status = ev.err.Error()
	}
	switch {
	case !w.stopping.IsZero(): // told to stop: ready or not, it did not fail
		m.log.Printf("worker %d (pid %d) exited (%s)", w.id, w.pid, status)
	case w.gen != m.gen: // a worker of the old generation, during a reload: the new one is on its way
		m.log.Printf("worker %d (pid %d) exited (%s); not replaced: a reload is under way", w.id, w.pid, status)
	case !w.ready: // a worker that hangs as it boots, killed for its silence, failed to boot too
		return m.bootFailed(w, errors.New(status))
	case !w.aborted.IsZero():
		m.log.Printf("worker %d (pid %d) exited (%s); starting another", w.id, w.pid, status)
	default:
		m.log.Printf("worker %d (pid %d) exited by itself (%s); starting another", w.id, w.pid, status)
	}
	return nil
}

// bootFailed records a worker of the current generation that exited before it was ready (w), or one that
// could not be started (w nil). When too many did in a row, it gives up: during a reload it abandons the
// new generation and falls back to the last complete one, if it still has a worker that serves; otherwise
// it returns the error that stops the master.
func (m *Master) bootFailed(w *worker, err error) error {
	m.failed++
	m.lastErr = err
	if w != nil {
		m.log.Printf("worker %d (pid %d) failed to boot (%v): %d in a row", w.id, w.pid, err, m.failed)
	} else {
		m.log.Printf("cannot start a worker: %v: %d in a row", err, m.failed)
	}
	if m.failed < m.cfg.BootFailures {
		return nil
	}
	serving := slices.ContainsFunc(m.sorted(), func(o *worker) bool {
		return o.gen == m.complete && o.ready && o.stopping.IsZero()
	})
	if m.gen == m.complete || !serving {
		return fmt.Errorf("workers fail to boot: %d in a row, the last with %v", m.failed, m.lastErr)
	}
	m.log.Printf("reload abandoned: the new workers fail to boot (%d in a row, the last with %v); the old ones go on serving",
		m.failed, m.lastErr)
	for _, o := range m.current() {
		m.retire(o, "reload abandoned")
	}
	m.gen, m.failed = m.complete, 0
	return nil
}

// signal handles SIGHUP, SIGTTIN and SIGTTOU.
func (m *Master) signal(sig os.Signal) {
	switch sig {
	case syscall.SIGHUP:
		// A reload under way is superseded: its workers stop now, and the last complete generation serves
		// until the new one is complete.
		for _, w := range m.sorted() {
			if w.gen != m.complete && w.stopping.IsZero() {
				m.retire(w, "superseded by a newer reload (SIGHUP)")
			}
		}
		m.lastGen++
		m.gen = m.lastGen
		m.failed = 0
		m.log.Printf("reload (SIGHUP): starting %d new workers; the old ones stop once the new ones are ready", m.want)
	case syscall.SIGTTIN:
		m.want++
		m.log.Printf("SIGTTIN: %d workers", m.want)
	case syscall.SIGTTOU:
		if m.want > 1 {
			m.want--
			m.log.Printf("SIGTTOU: %d workers", m.want)
		}
	}
}

// murder kills the workers that have been silent for longer than the timeout, and those that were told to
// stop and have not within the shutdown timeout; a worker killed with SIGABRT gets SIGKILL after killGrace.
func (m *Master) murder(now time.Time) {
	for _, w := range m.sorted() {
		switch {
		case w.killed:
		case !w.aborted.IsZero():
			if now.Sub(w.aborted) > killGrace {
				m.kill(w)
			}
		case !w.stopping.IsZero():
			if now.Sub(w.stopping) > m.cfg.ShutdownTimeout {
				m.log.Printf("worker %d (pid %d) did not stop within %v; killing it", w.id, w.pid, m.cfg.ShutdownTimeout)
				m.kill(w)
			}
		case m.cfg.Timeout > 0 && now.Sub(w.last) > m.cfg.Timeout:
			what := "sent no heartbeat"
			if !w.ready {
				what = "did not say it was ready"
			}
			m.log.Printf("WORKER TIMEOUT: worker %d (pid %d) %s for %v (timeout %v): killing it",
				w.id, w.pid, what, now.Sub(w.last).Round(time.Millisecond), m.cfg.Timeout)
			w.aborted = now
			w.proc.Signal(syscall.SIGABRT)
		}
	}
}

// retire tells w to stop gracefully.
func (m *Master) retire(w *worker, why string) {
	m.log.Printf("stopping worker %d (pid %d): %s", w.id, w.pid, why)
	w.stopping = time.Now()
	w.proc.Signal(syscall.SIGTERM)
}

// kill sends SIGKILL to w.
func (m *Master) kill(w *worker) {
	w.killed = true
	w.proc.Signal(syscall.SIGKILL)
}

// stop closes the listener, tells every worker to stop, and waits until they have exited, killing those
// still running after the shutdown timeout. It returns err.
func (m *Master) stop(err error) error {
	if m.cfg.Listener != nil {
		m.cfg.Listener.Close()
	}
	for _, w := range m.sorted() {
		if w.stopping.IsZero() {
			m.retire(w, "the master is stopping")
		}
	}
	grace := m.cfg.ShutdownTimeout
	if m.cfg.StopTimeout > 0 {
		grace = m.cfg.StopTimeout
	}
	deadline := time.After(grace)
	var gaveUp <-chan time.Time
	for len(m.workers) > 0 {
		select {
		case ev := <-m.events:
			if ev.exited {
				delete(m.workers, ev.w.id)
			}
		case <-deadline:
			for _, w := range m.sorted() {
				m.log.Printf("worker %d (pid %d) did not stop within %v; killing it", w.id, w.pid, grace)
				m.kill(w)
			}
			gaveUp = time.After(killGrace)
		case <-gaveUp:
			m.log.Printf("%d workers still there %v after SIGKILL; giving up on them", len(m.workers), killGrace)
			return err
		}
	}
	return err
}

// current returns the workers of the current generation not told to stop, oldest first.
func (m *Master) current() []*worker {
	var ws []*worker
	for _, w := range m.sorted() {
		if w.gen == m.gen && w.stopping.IsZero() {
			ws = append(ws, w)
		}
	}
	return ws
}

// sorted returns every worker, oldest first.
func (m *Master) sorted() []*worker {
	ws := make([]*worker, 0, len(m.workers))
	for _, w := range m.workers {
		ws = append(ws, w)
	}
	slices.SortFunc(ws, func(a, b *worker) int { return a.id - b.id })
	return ws
}
