package pool

import (
	"bufio"
	"context"
	"errors"
	"sync"

	"course/chapters/gateway"
	"course/chapters/http1"
)

// Runner runs a job when a worker is free and waits for it, failing with ErrFull, ErrQueueTimeout,
// ErrRunTimeout or ErrClosed as a Limiter and a Pool do. When the job runs past the run timeout, Do calls late
// from another goroutine, at once, and returns ErrRunTimeout: at once too (a Pool) or when the job ends (a
// Limiter). Chapter 2's learners write one.
type Runner interface {
	Do(ctx context.Context, fn func(), late func()) error
}

// Answer returns the Answer function of an http1.Server that answers each request under r: once the
// connection's goroutine has read the request head, a worker of r runs the app (which reads the body) and
// writes the response. A full pool, or a request that waited too long, is answered 503 at once, with
// Retry-After; an app that runs too long, 504, as soon as the run timeout has passed.
func Answer(r Runner, gw gateway.Server, app gateway.App) func(*bufio.Writer, *gateway.Request, bool) bool {
	// The work of a request, its guard and its buffer are recycled: allocating them anew for every request is
	// garbage the collector must chase, at tens of thousands of requests a second.
	calls := sync.Pool{New: func() any {
		c := &call{}
		c.w = bufio.NewWriter(&c.out)
		c.run = func() {
			c.keep = http1.Answer(c.w, c.req, gw, app, c.closing)
			c.w.Flush()
		}
		c.late = func() {
			// The app is still running, abandoned: it must not write to the connection any more.
			c.out.abandon(func() {
				gateway.WriteError(c.out.w, 504, "the application did not answer in time", true)
			})
		}
		return c
	}}
	return func(bw *bufio.Writer, req *gateway.Request, closing bool) bool {
		c := calls.Get().(*call)
		c.out.reset(bw)
		// A bufio.Writer keeps its first write error: clear the one a client that reset its connection left.
		c.w.Reset(&c.out)
		c.req, c.closing, c.keep = req, closing, false // false, should a Runner return nil without running it
		err := r.Do(context.Background(), c.run, c.late)
		if err == nil {
			keep := c.keep
			c.req = nil
			c.out.reset(nil)
			calls.Put(c) // the app is done with it; after a run timeout, it may not be
			return keep
		}
		switch {
		case errors.Is(err, ErrRunTimeout):
			return false // late has answered 504, unless the response had started: the close ends it
		default: // ErrFull, ErrQueueTimeout, ErrClosed, or the Runner's own
			msg := "the server is busy, try again"
			if !errors.Is(err, ErrFull) && !errors.Is(err, ErrQueueTimeout) && !errors.Is(err, ErrClosed) {
				msg = err.Error()
			}
			// The body was not read: keep the connection only if there is none.
			close := closing || !req.WantsKeepAlive() || req.ContentLength != 0
			gateway.WriteError(bw, 503, msg, close, gateway.Header{Name: "Retry-After", Value: "1"})
			return !close
		}
	}
}

// call is the work of one request: run is what Do runs, and writes through w to out; late answers 504.
type call struct {
	out     guard
	w       *bufio.Writer
	run     func()
	late    func()
	req     *gateway.Request
	closing bool
	keep    bool // the result of http1.Answer, for the connection's goroutine once Do returns
}

// errAbandoned is what an abandoned app gets when it writes.
var errAbandoned = errors.New("the response was abandoned after the request timeout")

// guard lets exactly one of the app and the run timeout answer: the app until the timeout, late after it
// (with a 504, if the app has not started the response).
type guard struct {
	mu        sync.Mutex
	w         *bufio.Writer
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
	n, err := g.w.Write(p)
	if err == nil {
		err = g.w.Flush()
	}
	return n, err
}

// reset points g at w, for a new request. It needs no lock: no worker holds g between two requests.
func (g *guard) reset(w *bufio.Writer) {
	g.w, g.started, g.abandoned = w, false, false
}

// abandon takes the connection from the worker, and calls answer if no byte of the response was written.
func (g *guard) abandon(answer func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.abandoned = true
	if !g.started {
		answer()
	}
}
