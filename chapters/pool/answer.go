package pool

import (
	"bufio"
	"context"
	"errors"
	"sync"

	"course/chapters/gateway"
	"course/chapters/http1"
)

// Runner runs a job on a worker and waits for it, failing with ErrFull, ErrQueueTimeout, ErrRunTimeout or
// ErrClosed as a Pool does. Chapter 2's learners write one.
type Runner interface {
	Do(ctx context.Context, fn func()) error
}

// Answer returns the Answer function of an http1.Server that answers each request on a worker of r: the
// connection's goroutine has read the request head, a worker runs the app (which reads the body) and writes
// the response. A full pool, or a request that waited too long, is answered 503 at once, with Retry-After;
// an app that runs too long, 504.
func Answer(r Runner, gw gateway.Server, app gateway.App) func(*bufio.Writer, *gateway.Request, bool) bool {
	return func(bw *bufio.Writer, req *gateway.Request, closing bool) bool {
		out := &guard{w: bw}
		keep := false
		err := r.Do(context.Background(), func() {
			w := writers.Get().(*bufio.Writer)
			w.Reset(out)
			keep = http1.Answer(w, req, gw, app, closing)
			w.Flush()
			w.Reset(nil)
			writers.Put(w)
		})
		switch {
		case err == nil:
			return keep
		case errors.Is(err, ErrRunTimeout):
			// The app is still running, abandoned: it must not write to the connection any more.
			out.abandon(func() {
				gateway.WriteError(bw, 504, "the application did not answer in time", true)
			})
			return false
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

// writers recycles the buffers through which workers write responses: a new 4 KiB buffer per request is
// garbage the collector must chase, at tens of thousands of requests a second.
var writers = sync.Pool{New: func() any { return bufio.NewWriter(nil) }}

// errAbandoned is what an abandoned app gets when it writes.
var errAbandoned = errors.New("the response was abandoned after the request timeout")

// guard lets exactly one of a worker and the connection's goroutine answer: the worker until the request
// timeout, the connection's goroutine after it (with a 504, if the worker has not started the response).
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

// abandon takes the connection from the worker, and calls answer if no byte of the response was written.
func (g *guard) abandon(answer func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.abandoned = true
	if !g.started {
		answer()
	}
}
