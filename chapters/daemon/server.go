package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"course/chapters/gateway"
	"course/chapters/launch"
	"course/chapters/scgi"
)

// Server is a daemon process's side of daemon mode: it serves the SCGI requests of the group's socket with
// App, Threads at a time.
type Server struct {
	App gateway.App
	// Gateway is what the app is told: whether other threads (MultiThread) or processes (MultiProcess) run
	// it at the same time, and where its errors go.
	Gateway gateway.Server
	Threads int // requests served at once, each by a goroutine of its own
	// QueueTimeout: a request that waited longer than this for a thread is answered 504, and the app does
	// not run. Zero means no limit.
	QueueTimeout time.Duration
	// RequestTimeout: a request that runs longer is answered 504, and the daemon restarts. Zero means no
	// limit.
	RequestTimeout time.Duration
	// SocketTimeout bounds each read and write on a connection from the front end. Zero means no bound.
	SocketTimeout time.Duration
	// ShutdownTimeout is how long the requests in flight get to finish when the daemon stops.
	ShutdownTimeout time.Duration
	// MaxRequests: the daemon restarts after this many requests. Zero means never.
	MaxRequests int
	Limits      scgi.Limits // zero means scgi.DefaultLimits
	Log         *log.Logger // nil means log.Default()
}

// Serve serves on ln, the group's socket, until ctx is done (SIGTERM), the daemon has served MaxRequests, or
// a request has run past RequestTimeout. Each of Threads goroutines takes a connection from ln only when it is
// free, and serves its one request: requests that find every thread busy wait in the socket's queue, where
// the other daemons of the group can take them too.
//
// To stop, Serve closes ln (this process's copy of the socket: the group's queue lives on in the others),
// lets the requests in flight finish, ShutdownTimeout at most, and returns. It does not wait for a request
// that ran past RequestTimeout: a goroutine cannot be stopped, and the caller, by exiting, stops it. The
// master then starts another daemon in this one's place. This is why daemon mode restarts a process where
// chapter 2's pool could only abandon a thread.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var served atomic.Int64
	var track inflight
	for range max(s.Threads, 1) {
		go func() {
			for {
				// A goroutine in Accept may yet get a connection, which must
				// then be answered: the daemon waits for it too.
				track.accepting(1)
				conn, err := launch.Accept(ctx, ln)
				if err != nil {
					track.accepting(-1)
					return // stopping
				}
				done := track.begin()
				track.accepting(-1)
				if n := served.Add(1); s.MaxRequests > 0 && n >= int64(s.MaxRequests) {
					stop(fmt.Errorf("served -maximum-requests %d", s.MaxRequests))
				}
				s.serveConn(conn, done, stop)
				done()
			}
		}()
	}
	<-ctx.Done()
	ln.Close()
	why := context.Cause(ctx)
	if errors.Is(why, context.Canceled) {
		why = errors.New("told to stop")
	}
	n := track.count()
	s.logf("stopping (%v): finishing %d requests in flight", why, n)
	if !track.wait(s.ShutdownTimeout) {
		s.logf("requests still in flight after %v; exiting anyway", s.ShutdownTimeout)
	}
	return nil
}

// serveConn serves the one request of conn: it reads it, answers 504 if it waited past the queue timeout,
// and otherwise runs the app, with a timer that answers 504 and restarts the daemon (stop) if the app runs
// past the request timeout; done ends the request in the daemon's count of those in flight.
func (s *Server) serveConn(conn net.Conn, done func(), stop context.CancelCauseFunc) {
	defer conn.Close()
	c := timeoutConn{conn, s.SocketTimeout}
	req, err := scgi.ReadRequest(bufio.NewReader(c), s.limits())
	if err != nil {
		if !errors.Is(err, io.EOF) {
			s.logf("refused a request: %v", err)
		}
		scgi.Refuse(c, err)
		return
	}
	env := req.Environ(s.Gateway)
	what := env.Get("REQUEST_METHOD") + " " + env.Get("PATH_INFO")
	waited, ok := QueueTime(env, time.Now())
	if ok && s.QueueTimeout > 0 && waited > s.QueueTimeout {
		waited = waited.Round(time.Millisecond)
		s.logf("queue timeout: %s waited %v for a thread, more than -queue-timeout %v: "+
			"answered 504, not run", what, waited, s.QueueTimeout)
		// All of the body: a socket closed with bytes unread is reset, the 504 lost.
		io.Copy(io.Discard, env.Input)
		scgi.WriteError(c, 504, fmt.Sprintf("the request waited %v for a daemon thread, "+
			"more than the queue timeout of %v", waited, s.QueueTimeout))
		return
	}

	out := &guard{w: c}
	if s.RequestTimeout > 0 {
		late := time.AfterFunc(s.RequestTimeout, func() {
			out.abandon(func(w io.Writer) {
				scgi.WriteError(w, 504, fmt.Sprintf("the request ran for more than "+
					"the request timeout of %v", s.RequestTimeout))
			})
			// The front end sees the end of the answer now; the app holds the rest.
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			done() // not waited for: it may never end
			stop(fmt.Errorf("request timeout: %s ran for more than -request-timeout %v, "+
				"answered 504; restarting", what, s.RequestTimeout))
		})
		defer late.Stop()
	}
	scgi.Respond(out, env, s.App)
}

func (s *Server) limits() scgi.Limits {
	if s.Limits == (scgi.Limits{}) {
		return scgi.DefaultLimits
	}
	return s.Limits
}

func (s *Server) logf(format string, args ...any) {
	l := s.Log
	if l == nil {
		l = log.Default()
	}
	l.Printf(format, args...)
}

// errAbandoned is what the app's writes get once its request has been answered 504.
var errAbandoned = errors.New("the request ran past the request timeout and was answered 504")

// guard lets exactly one of the app and the request timeout answer: the app until the timeout; after it, a
// 504 if the app has not started its response (once it has, the connection is cut).
type guard struct {
	mu        sync.Mutex
	w         io.Writer
	started   bool
	abandoned bool
}

func (g *guard) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.abandoned {
		return 0, errAbandoned
	}
	g.started = true
	return g.w.Write(p)
}

// abandon takes the connection from the app, and calls answer on it if no byte of the response went out.
func (g *guard) abandon(answer func(w io.Writer)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.abandoned = true
	if !g.started {
		answer(g.w)
	}
}

// inflight counts the requests a daemon has in flight, those it has given up on aside, and the goroutines
// that are accepting a connection.
type inflight struct {
	mu        sync.Mutex
	n         int
	accepters int
}

// accepting counts a goroutine that starts (d = 1) or stops (d = -1) accepting a connection.
func (f *inflight) accepting(d int) {
	f.mu.Lock()
	f.accepters += d
	f.mu.Unlock()
}

// begin counts a request, and returns the function that ends it (once, however often it is called).
func (f *inflight) begin() func() {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			f.n--
			f.mu.Unlock()
		})
	}
}

func (f *inflight) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// idle reports whether no request is in flight and no goroutine is accepting one.
func (f *inflight) idle() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n == 0 && f.accepters == 0
}

// wait waits until the daemon is idle, d at most, and reports whether it is.
func (f *inflight) wait(d time.Duration) bool {
	for deadline := time.Now().Add(d); !f.idle(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
