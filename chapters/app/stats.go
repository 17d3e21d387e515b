package app

import (
	"sync"
	"sync/atomic"

	"course/chapters/gateway"
)

// Counter is the data shared between requests that /counter increments. Every call of the app may use it at
// the same time, from any goroutine.
type Counter interface {
	// Add adds n to the counter and returns the new value.
	Add(n int64) int64
	// Value returns the current value.
	Value() int64
}

// NewLockedCounter returns a Counter, starting at 0, whose every use holds a mutex: correct however many
// goroutines share it.
func NewLockedCounter() Counter {
	return &lockedCounter{}
}

type lockedCounter struct {
	mu sync.Mutex
	n  int64
}

func (c *lockedCounter) Add(n int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += n
	return c.n
}

func (c *lockedCounter) Value() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// stats is what /stats shows.
type stats struct {
	Inflight    int64 `json:"inflight"`
	MaxInflight int64 `json:"max_inflight"`
	Calls       int64 `json:"calls"`
	Closes      int64 `json:"closes"`
	Counter     int64 `json:"counter"`
}

// gauge counts the calls of the app and how many run at once. Calls on any goroutine update it, so every
// field is atomic.
type gauge struct {
	inflight    atomic.Int64 // calls entered and not yet over
	maxInflight atomic.Int64 // the peak of inflight since the last reset
	calls       atomic.Int64 // calls entered since the last reset
	closes      atomic.Int64 // bodies closed since the last reset
}

// enter records the start of a call.
func (g *gauge) enter() {
	g.calls.Add(1)
	n := g.inflight.Add(1)
	for {
		m := g.maxInflight.Load()
		if n <= m || g.maxInflight.CompareAndSwap(m, n) {
			return
		}
	}
}

// leave records the end of a call.
func (g *gauge) leave() {
	g.inflight.Add(-1)
}

// read returns the gauge; with reset, it then sets the peak to the calls now in flight and the totals to 0.
// A reset is meant for a quiet moment: calls running across it may count in one total and not the other.
func (g *gauge) read(reset bool) stats {
	s := stats{Inflight: g.inflight.Load()}
	if reset {
		s.MaxInflight = g.maxInflight.Swap(s.Inflight)
		s.Calls = g.calls.Swap(0)
		s.Closes = g.closes.Swap(0)
	} else {
		s.MaxInflight = g.maxInflight.Load()
		s.Calls = g.calls.Load()
		s.Closes = g.closes.Load()
	}
	return s
}

// track returns body wrapped so that closing it ends the call, and keeps the length of a body that has one.
func (g *gauge) track(body gateway.Body) gateway.Body {
	t := &tracked{Body: body, g: g}
	if _, ok := body.(sizer); ok {
		return sizedTracked{t}
	}
	return t
}

// sizer is implemented by a body that knows its remaining length, as one made by gateway.Bytes does: the
// gateway looks for it to send the body with a Content-Length rather than chunked.
type sizer interface {
	Len() int
}

// tracked is a body whose Close ends its call in the gauge.
type tracked struct {
	gateway.Body
	g      *gauge
	closed atomic.Bool
}

// Close closes the body and, the first time only, counts the close and ends the call: a server that
// closes twice must not unbalance the gauge.
func (b *tracked) Close() error {
	err := b.Body.Close()
	if b.closed.CompareAndSwap(false, true) {
		b.g.closes.Add(1)
		b.g.leave()
	}
	return err
}

// sizedTracked is a tracked body that keeps the Len method of the body it wraps.
type sizedTracked struct{ *tracked }

func (b sizedTracked) Len() int { return b.Body.(sizer).Len() }
