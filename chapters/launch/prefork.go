package launch

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"course/chapters/gateway"
	"course/chapters/http1"
	"course/chapters/pool"
	"course/chapters/prefork"
)

// PreforkConfig is what a prefork server is told on its command line (chapter 4 on), on top of Config.
type PreforkConfig struct {
	Workers int // worker processes
	// Threads is how many requests a worker runs at once: 1 serves one connection at a time (chapter 1's
	// server, gunicorn's sync worker); more serves every connection on a goroutine with Threads places for
	// the app (chapter 2's server, gunicorn's gthread worker).
	Threads int
	Queue   int // with Threads > 1: requests that may wait for a place; beyond, 503
	// Timeout: a worker that has not beaten for this long is killed and replaced (gunicorn's timeout).
	Timeout time.Duration
	// ShutdownTimeout: a worker told to stop has this long to finish its requests (gunicorn's
	// graceful_timeout).
	ShutdownTimeout time.Duration
	// MaxRequests: a worker stops after this many requests, plus a random number up to MaxRequestsJitter,
	// and the master starts another (0: never).
	MaxRequests       int
	MaxRequestsJitter int
	// Settings is a file that each worker reads as it boots, as an app reads its settings (see ReadSettings).
	Settings string
}

// RegisterPrefork adds the flags of a prefork server to fs. The defaults are gunicorn's, but for two workers
// rather than one, and a shutdown timeout of 10 s rather than 30.
func RegisterPrefork(fs *flag.FlagSet) *PreforkConfig {
	c := &PreforkConfig{}
	fs.IntVar(&c.Workers, "workers", 2, "worker processes")
	fs.IntVar(&c.Threads, "threads", 1, "requests each worker runs at once: 1 serves one connection at a time")
	fs.IntVar(&c.Queue, "queue", 32, "with -threads above 1: requests a worker holds waiting for a place; beyond, 503")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "a worker silent this long (a request running this long) is killed and replaced; 0: never")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "a worker told to stop gets this long to finish its requests")
	fs.IntVar(&c.MaxRequests, "max-requests", 0, "a worker is replaced after this many requests (0: never)")
	fs.IntVar(&c.MaxRequestsJitter, "max-requests-jitter", 0, "add a random number of requests up to this to -max-requests, so that workers are not all replaced at once")
	fs.StringVar(&c.Settings, "settings", "", "a settings `file` each worker reads as it boots (boot_delay = 1s): a worker that cannot parse it fails to boot")
	return c
}

// Prefork is the main of a prefork server, run by the master and by each worker, which is the same program
// started again (the master tells them apart by the environment it gives its workers). It parses the
// command line, then:
//
//   - in the master, runs master with a context that is cancelled on SIGTERM or SIGINT;
//   - in a worker, reads pc.Settings (a worker that cannot fails to boot), then runs worker with the
//     worker side of the protocol and a context that is cancelled on SIGTERM or SIGINT. A worker ignores
//     SIGHUP, SIGTTIN and SIGTTOU, which are the master's to handle.
//
// It exits with status 1 if the function fails, and 0 when it returns after the signal.
func Prefork(pc *PreforkConfig, master func(ctx context.Context) error, worker func(ctx context.Context, w *prefork.Worker) error) {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}
	log.SetPrefix(fmt.Sprintf("[%d] ", os.Getpid()))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	run := master
	if prefork.IsWorker() {
		signal.Ignore(syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU)
		run = func(ctx context.Context) error {
			w, err := prefork.Child()
			if err != nil {
				return err
			}
			log.SetPrefix(fmt.Sprintf("[%d] worker %s: ", os.Getpid(), w.ID))
			if err := ReadSettings(pc.Settings); err != nil {
				return err
			}
			return worker(ctx, w)
		}
	}
	if err := run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "[%d] %s: %v\n", os.Getpid(), filepath.Base(os.Args[0]), err)
		os.Exit(1)
	}
}

// ReadSettings reads the settings file path as a worker boots, as an app loads its settings: lines
// "name = value", blank lines and lines starting with # aside. The one setting is boot_delay, a duration
// such as 1s, which the worker sleeps as if importing the app took that long. A file that does not exist
// holds no settings; one that cannot be read or parsed is an error, which makes the worker fail to boot:
// that is how the grader breaks a deployment. An empty path reads nothing.
func ReadSettings(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot load the settings: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var delay time.Duration
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case !ok:
			return fmt.Errorf("settings %s, line %d: %q is not name = value", path, n, line)
		case name != "boot_delay":
			return fmt.Errorf("settings %s, line %d: unknown setting %q (the one setting is boot_delay)", path, n, name)
		}
		if delay, err = time.ParseDuration(value); err != nil || delay < 0 {
			return fmt.Errorf("settings %s, line %d: boot_delay %q is not a duration such as 500ms", path, n, value)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("settings %s: %w", path, err)
	}
	time.Sleep(delay)
	return nil
}

// Inherited returns the listening socket that the worker w inherited from its master, and the gateway's
// description of the server, as Listen does for a server that opens its own socket. Closing the listener
// closes this worker's copy of the socket only.
func Inherited(w *prefork.Worker) (net.Listener, gateway.Server, error) {
	ln, err := w.Listener()
	if err != nil {
		return nil, gateway.Server{}, err
	}
	return ln, describe(ln), nil
}

// ServeWorker is the given worker of a prefork server: it serves app on ln, the listening socket it
// inherited from the master (Inherited), with chapter 1's server when pc.Threads is 1 (one connection at a time) and chapter 2's
// when it is more (a goroutine per connection, pc.Threads places for the app). It tells the master when it
// is ready and beats while no request has been running for longer than a beat (prefork.Worker).
//
// It stops when ctx is cancelled (SIGTERM), when the master is gone, or after pc.MaxRequests requests (plus
// a random jitter): it stops accepting (its copy of the socket is closed; the socket stays open in the other
// processes, so no connection waiting in the kernel's queue is lost), answers the requests in flight with
// Connection: close, closes idle connections, and returns once they are done, or after pc.ShutdownTimeout.
func ServeWorker(ctx context.Context, cfg *Config, pc *PreforkConfig, w *prefork.Worker, ln net.Listener, gw gateway.Server, app gateway.App) error {
	drain, stop := w.Until(ctx)
	defer stop()
	context.AfterFunc(drain, func() { ln.Close() })

	conns := cfg.HTTP1(gw, app)
	var places *pool.Limiter
	if pc.Threads > 1 {
		places = pool.NewLimiter(pool.Config{Workers: pc.Threads, Queue: pc.Queue, QueueTimeout: 5 * time.Second})
		conns.Answer = pool.Answer(progress{places, w}, gw, app)
	} else {
		conns.Answer = func(bw *bufio.Writer, req *gateway.Request, closing bool) bool {
			token := w.Begin()
			defer w.End(token)
			return http1.Answer(bw, req, gw, app, closing)
		}
	}
	if limit := maxRequests(pc); limit > 0 {
		conns.Answer = recycle(conns.Answer, limit, stop)
	}

	if err := w.Ready(); err != nil {
		return err
	}
	log.Printf("serving, %d requests at once", max(pc.Threads, 1))
	var wg sync.WaitGroup
	for {
		conn, err := Accept(drain, ln)
		if err != nil {
			break // stopping: the socket is closed here, not in the other processes
		}
		if pc.Threads <= 1 {
			serveAccepted(drain, conns, conn) // one connection at a time, as chapter 1's server
			continue
		}
		wg.Go(func() { serveAccepted(drain, conns, conn) })
	}
	if !WaitFor(&wg, pc.ShutdownTimeout) {
		log.Printf("requests still in flight after %v; exiting anyway", pc.ShutdownTimeout)
	}
	if places != nil {
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		places.Close(c)
	}
	return nil
}

// serveAccepted serves conn with s until drain ends, but gives it its first request even when drain ends
// first. The socket is closed asynchronously when drain ends, so a worker may accept a connection just as
// it starts to drain: the client has sent, or is sending, its request, and a connection closed without
// reading it is reset, a failure the client cannot tell from a crash. A request answered while draining
// says Connection: close, and the connection is closed after it.
func serveAccepted(drain context.Context, s *http1.Server, conn net.Conn) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(drain))
	defer cancel()
	var answered atomic.Bool
	stop := context.AfterFunc(drain, func() {
		if answered.Load() {
			cancel()
		}
	})
	defer stop()
	own := *s
	own.Answer = func(bw *bufio.Writer, req *gateway.Request, closing bool) bool {
		keep := s.Answer(bw, req, closing || drain.Err() != nil)
		answered.Store(true)
		if drain.Err() != nil {
			cancel()
		}
		return keep
	}
	own.ServeConn(ctx, conn)
}

// progress runs each job under a pool's places, and marks it in flight for the worker's beats while it runs
// (not while it waits for a place).
type progress struct {
	r pool.Runner
	w *prefork.Worker
}

func (p progress) Do(ctx context.Context, fn func(), late func()) error {
	return p.r.Do(ctx, func() {
		token := p.w.Begin()
		defer p.w.End(token)
		fn()
	}, late)
}

// maxRequests returns the number of requests after which this worker stops: pc.MaxRequests plus a random
// jitter up to pc.MaxRequestsJitter (as gunicorn draws it), or 0 for never.
func maxRequests(pc *PreforkConfig) int64 {
	if pc.MaxRequests <= 0 {
		return 0
	}
	return int64(pc.MaxRequests + rand.IntN(max(pc.MaxRequestsJitter, 0)+1))
}

// recycle returns answer with a count of requests: the limit-th is answered with Connection: close and
// stops the worker (stop), whose other connections close as they would on SIGTERM.
func recycle(answer func(*bufio.Writer, *gateway.Request, bool) bool, limit int64, stop func()) func(*bufio.Writer, *gateway.Request, bool) bool {
	var served atomic.Int64
	return func(bw *bufio.Writer, req *gateway.Request, closing bool) bool {
		if n := served.Add(1); n >= limit {
			if n == limit {
				log.Printf("served %d requests (-max-requests): stopping, the master starts another worker", n)
				stop()
			}
			closing = true
		}
		return answer(bw, req, closing)
	}
}

// WaitFor waits for wg, for at most d, and reports whether it was done: how a server that stops waits for
// its requests in flight, but not for ever.
func WaitFor(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
