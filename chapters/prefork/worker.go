package prefork

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// Worker is the worker side of the protocol, for a worker process written in Go: the socket it inherited,
// and the heartbeat it owes the master.
type Worker struct {
	ID   string        // PREFORK_WORKER: the worker's id, for logs and for the app's /pid
	Beat time.Duration // PREFORK_BEAT_MS

	listener *os.File
	beats    *os.File
	ppid     int // the master's pid, as it was when the worker started

	mu       sync.Mutex
	next     uint64
	inflight map[uint64]time.Time // when each request in flight started
	gone     chan struct{}        // closed when the master is gone
	goneOnce sync.Once
}

// IsWorker reports whether this process was started as a worker by a master (PREFORK_FD is set).
func IsWorker() bool { return os.Getenv(EnvFD) != "" }

// Child returns the worker side of this process, from the environment a master started it with.
func Child() (*Worker, error) {
	fd, err := envFD(EnvFD, ListenerFD)
	if err != nil {
		return nil, err
	}
	hb, err := envFD(EnvHeartbeatFD, HeartbeatFD)
	if err != nil {
		return nil, err
	}
	ms, err := strconv.Atoi(os.Getenv(EnvBeat))
	if err != nil || ms <= 0 {
		return nil, fmt.Errorf("%s=%q: want the beat interval in milliseconds", EnvBeat, os.Getenv(EnvBeat))
	}
	if err := isSocket(fd); err != nil {
		return nil, fmt.Errorf("%s=%d: fd %d: %w", EnvFD, fd, fd, err)
	}
	return &Worker{
		ID:       os.Getenv(EnvWorker),
		Beat:     time.Duration(ms) * time.Millisecond,
		listener: os.NewFile(uintptr(fd), "listener"),
		beats:    os.NewFile(uintptr(hb), "heartbeat"),
		ppid:     os.Getppid(),
		inflight: map[uint64]time.Time{},
		gone:     make(chan struct{}),
	}, nil
}

// envFD reads the descriptor number in the variable name, which the protocol fixes to want.
func envFD(name string, want int) (int, error) {
	v := os.Getenv(name)
	fd, err := strconv.Atoi(v)
	if err != nil || fd != want {
		return 0, fmt.Errorf("%s=%q: want %d", name, v, want)
	}
	return fd, nil
}

// Listener returns the inherited socket as a net.Listener; closing it closes this worker's copy only.
func (w *Worker) Listener() (net.Listener, error) {
	ln, err := net.FileListener(w.listener) // a duplicate of the descriptor
	w.listener.Close()
	if err != nil {
		return nil, fmt.Errorf("the inherited socket (fd %d): %w", ListenerFD, err)
	}
	return ln, nil
}

// Ready tells the master that the worker serves, then beats every beat interval while the worker makes
// progress, until the master is gone (see Gone).
func (w *Worker) Ready() error {
	if _, err := w.beats.Write([]byte{Ready}); err != nil {
		return fmt.Errorf("telling the master that the worker is ready: %w", err)
	}
	go w.beat()
	return nil
}

// beat writes a beat every interval while no request in flight is older than one interval, and watches
// for the master's death.
func (w *Worker) beat() {
	t := time.NewTicker(w.Beat)
	defer t.Stop()
	for now := range t.C {
		if os.Getppid() != w.ppid {
			w.masterGone(errors.New("the worker was re-parented"))
			return
		}
		if !w.progressing(now) {
			continue
		}
		if _, err := w.beats.Write([]byte{Beat}); err != nil {
			w.masterGone(err) // EPIPE: nobody reads the pipe any more
			return
		}
	}
}

// masterGone closes the channel of Gone.
func (w *Worker) masterGone(why error) {
	w.goneOnce.Do(func() {
		fmt.Fprintf(os.Stderr, "worker %s (pid %d): the master is gone (%v); stopping\n", w.ID, os.Getpid(), why)
		close(w.gone)
	})
}

// Gone returns a channel that is closed when the worker notices that its master is gone: the worker should
// then stop as it does on SIGTERM.
func (w *Worker) Gone() <-chan struct{} { return w.gone }

// Until returns a copy of ctx that is also done once the master is gone (Gone): a worker serves until then.
func (w *Worker) Until(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-w.gone:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// Begin marks the start of a request and returns its token for End. A request that runs for longer than a
// beat interval stops the beats until it ends: the master kills a worker whose request outlives its
// timeout.
func (w *Worker) Begin() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.next++
	w.inflight[w.next] = time.Now()
	return w.next
}

// End marks the end of the request that Begin returned token for.
func (w *Worker) End(token uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.inflight, token)
}

// progressing reports whether no request in flight started more than a beat interval before now.
func (w *Worker) progressing(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, start := range w.inflight {
		if now.Sub(start) > w.Beat {
			return false
		}
	}
	return true
}
