package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// runner is the state of one Run shared by its sessions.
type runner struct {
	ctx     context.Context
	cfg     Config
	addr    string // host:port to dial, the host a loopback IP
	head    bool   // the request is a HEAD: responses have no body
	batch   []byte // cfg.Pipeline copies of cfg.Request
	start   time.Time
	end     time.Time    // start + cfg.Duration, or zero
	claimed atomic.Int64 // requests begun and not given back, when cfg.Requests bounds the run

	mu      sync.Mutex // guards tallies while the engine adds them
	tallies []*tally
}

func (r *runner) stopped() bool { return r.ctx.Err() != nil }

// claim reserves up to n requests of the cfg.Requests budget and returns how
// many it got.
func (r *runner) claim(n int) int {
	if r.cfg.Requests == 0 {
		return n
	}
	over := r.claimed.Add(int64(n)) - r.cfg.Requests
	if over <= 0 {
		return n
	}
	over = min(over, int64(n))
	r.claimed.Add(-over)
	return n - int(over)
}

// release gives back n claimed requests that were never answered, so that
// another exchange makes up for them.
func (r *runner) release(n int) {
	if r.cfg.Requests > 0 && n > 0 {
		r.claimed.Add(-int64(n))
	}
}

// spent reports whether the whole cfg.Requests budget is claimed. Only
// sessions with requests in flight can give some back, and they claim them
// again themselves.
func (r *runner) spent() bool {
	return r.cfg.Requests > 0 && r.claimed.Load() >= r.cfg.Requests
}

// newTally adds a tally to the run; shared says several goroutines update it.
func (r *runner) newTally(shared bool) *tally {
	t := &tally{
		hist:   hdrhistogram.New(histMin, histMax, histFigures),
		status: make(map[int]int64),
		errors: make(map[string]int64),
	}
	if shared {
		t.mu = new(sync.Mutex)
	}
	r.mu.Lock()
	r.tallies = append(r.tallies, t)
	r.mu.Unlock()
	return t
}

// progress writes a live progress line to w every period until the returned func is called, which clears it.
func (r *runner) progress(w io.Writer, period time.Duration) (stop func()) {
	if w == nil {
		return func() {}
	}
	const width = 64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintf(w, "\r%s\r", strings.Repeat(" ", width))
				return
			case now := <-tick.C:
				var n, errs int64
				r.mu.Lock()
				for _, t := range r.tallies {
					n += t.answered.Load()
					errs += t.failed.Load()
				}
				r.mu.Unlock()
				secs := now.Sub(r.start).Seconds()
				line := fmt.Sprintf("%6.1fs %10d requests %9.0f rps %7d errors", secs, n, float64(n)/secs, errs)
				fmt.Fprintf(w, "\r%-*s", width, line)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// result merges the tallies.
func (r *runner) result(elapsed time.Duration) *Result {
	res := &Result{
		Duration: elapsed,
		Status:   make(map[int]int64),
		Errors:   make(map[string]int64),
	}
	h := hdrhistogram.New(histMin, histMax, histFigures)
	for _, t := range r.tallies {
		res.Requests += t.answered.Load()
		res.Bytes += t.bytes
		res.Reconnects += t.reconnects
		res.Retries += t.retries
		if t.ok > 0 {
			res.Status[200] += t.ok
		}
		for code, n := range t.status {
			res.Status[code] += n
		}
		for kind, n := range t.errors {
			res.Errors[kind] += n
		}
		h.Merge(t.hist)
	}
	if secs := elapsed.Seconds(); secs > 0 {
		res.RPS = float64(res.Requests) / secs
	}
	res.summarize(h)
	return res
}

// tally accumulates what some sessions measured. mu is nil when only one
// goroutine updates it.
type tally struct {
	mu         *sync.Mutex
	hist       *hdrhistogram.Histogram
	ok         int64 // responses with status 200, the common case
	status     map[int]int64
	errors     map[string]int64
	bytes      int64
	reconnects int64
	retries    int64

	// Read while the run goes on, for the progress line.
	answered atomic.Int64 // responses
	failed   atomic.Int64
}

func (t *tally) lock() {
	if t.mu != nil {
		t.mu.Lock()
	}
}

func (t *tally) unlock() {
	if t.mu != nil {
		t.mu.Unlock()
	}
}

func (t *tally) record(status int, latency time.Duration) {
	us := min(max(latency.Microseconds(), histMin), histMax)
	t.lock()
	t.hist.RecordValue(us)
	if status == 200 {
		t.ok++
	} else {
		t.status[status]++
	}
	t.unlock()
	t.answered.Add(1)
}

func (t *tally) count(kind string) {
	t.lock()
	t.errors[kind]++
	t.unlock()
	t.failed.Add(1)
}

func (t *tally) read(n int) {
	t.lock()
	t.bytes += int64(n)
	t.unlock()
}

func (t *tally) reconnected() {
	t.lock()
	t.reconnects++
	t.unlock()
}

func (t *tally) retried() {
	t.lock()
	t.retries++
	t.unlock()
}

// session is the protocol side of one of the cfg.Conns connections, across
// its reconnections: what to send and when, what the bytes received mean, and
// what to count. The engines do the I/O and call it; it does none itself.
type session struct {
	r        *runner
	id       int
	t        *tally
	f        framer
	due      []time.Time // ring of when the requests in flight were due
	head     int         // the oldest request in flight in due
	inflight int
	slot     int       // open loop: this session's requests due so far
	next     time.Time // open loop: when the next one is due
	waitFrom time.Time // since when a response has been awaited
	dialled  bool      // a connection was established before
	served   int       // responses on the current connection
}

func newSession(r *runner, id int, t *tally) *session {
	s := &session{r: r, id: id, t: t, due: make([]time.Time, r.cfg.Pipeline)}
	s.f.head = r.head
	if r.cfg.Rate > 0 {
		s.next = s.slotTime(0)
	}
	return s
}

// slotTime returns when the session's k-th request is due: session i of n
// owns the slots i, i+n, i+2n... of a schedule at cfg.Rate.
func (s *session) slotTime(k int) time.Time {
	n := float64(s.r.cfg.Conns)
	secs := (float64(s.id) + float64(k)*n) / s.r.cfg.Rate
	return s.r.start.Add(time.Duration(secs * float64(time.Second)))
}

// connected starts over on a new connection.
func (s *session) connected() {
	if s.dialled {
		s.t.reconnected()
	}
	s.dialled = true
	s.f.reset()
	s.head, s.inflight = 0, 0
	s.served = 0
}

// dialFailed counts a failed dial as a failed request and reports whether
// the session is finished instead: the run stopped or the budget is spent.
func (s *session) dialFailed() (finished bool) {
	if s.r.stopped() || s.r.claim(1) == 0 {
		return true
	}
	s.t.count(KindConnect)
	return false
}

// want returns how many requests to write now, and counts them in flight.
// wake is when to ask again if no response comes first (zero: only after a
// response); finished says the session has nothing left to do.
func (s *session) want(now time.Time) (n int, wake time.Time, finished bool) {
	r := s.r
	depth := len(s.due)
	if r.cfg.Rate == 0 {
		if s.inflight > 0 {
			return 0, time.Time{}, false
		}
		n = r.claim(depth)
		for range n {
			s.push(now, now)
		}
		return n, time.Time{}, n == 0
	}
	for s.inflight < depth && !now.Before(s.next) {
		// Past the end of the run, or past the budget, there is nothing
		// left to send but what is in flight. (Requests given back make
		// up for themselves: whoever gives them back claims them again.)
		if (!r.end.IsZero() && !s.next.Before(r.end)) || r.claim(1) == 0 {
			return n, time.Time{}, s.inflight == 0
		}
		s.push(s.next, now)
		s.slot++
		s.next = s.slotTime(s.slot)
		n++
	}
	if s.inflight < depth {
		wake = s.next
	}
	return n, wake, false
}

func (s *session) push(due, now time.Time) {
	if s.inflight == 0 {
		s.waitFrom = now
	}
	s.due[(s.head+s.inflight)%len(s.due)] = due
	s.inflight++
}

// received takes bytes read from the connection. closeConn says the
// connection must be closed: the server said so, or err tells what went
// wrong.
func (s *session) received(b []byte, now time.Time) (closeConn bool, err error) {
	s.t.read(len(b))
	for len(b) > 0 {
		n, done, err := s.f.feed(b)
		b = b[n:]
		if err != nil {
			return true, err
		}
		if done {
			if err := s.answered(now); err != nil {
				return true, err
			}
			if !s.f.keepAlive {
				s.drop()
				return true, nil
			}
		}
	}
	return false, nil
}

// answered records the response to the oldest request in flight.
func (s *session) answered(now time.Time) error {
	if s.inflight == 0 {
		return fmt.Errorf("%w: a response to no request", errMalformed)
	}
	due := s.due[s.head]
	s.head = (s.head + 1) % len(s.due)
	s.inflight--
	s.waitFrom = now
	s.served++
	s.t.record(s.f.status, now.Sub(due))
	return nil
}

// drop gives back the requests in flight on a connection that is closing
// cleanly: the server will not answer them, so others make up for them.
func (s *session) drop() {
	s.r.release(s.inflight)
	s.head, s.inflight = 0, 0
}

// closed handles the end of the server's stream. A non-nil error means a
// request failed (the caller passes it to fail).
func (s *session) closed(now time.Time) error {
	done, err := s.f.eof()
	if done {
		if err := s.answered(now); err != nil {
			return err
		}
		s.drop()
		return nil
	}
	if err == io.EOF && s.inflight == 0 {
		return nil // an idle connection closed
	}
	return err
}

// fail counts the failure of the oldest request in flight and gives back the
// others; the caller closes the connection. Requests cut short by the end of
// the run are not failures, and neither is an error while none was in
// flight (the connection is just dialled again).
func (s *session) fail(err error, otherKind string) {
	if s.inflight > 0 && !s.r.stopped() {
		if kind := errorKind(err, otherKind); s.retryable(kind) {
			s.t.retried()
			s.r.release(s.inflight) // all of them are sent again on the next connection
		} else {
			s.t.count(kind)
			s.r.release(s.inflight - 1)
		}
	}
	s.head, s.inflight = 0, 0
}

// retryable reports whether the oldest request in flight, which failed with
// an error of kind, may be sent again under Config.Retry: the connection had
// carried a response before, and closed or reset before any byte of this
// one. A request that fails on a new connection is never retried, so a
// request is retried once at most.
func (s *session) retryable(kind string) bool {
	return s.r.cfg.Retry && s.served > 0 && s.f.fresh() && (kind == KindEOF || kind == KindReset)
}

// timedOut reports whether the session has awaited a response too long.
func (s *session) timedOut(now time.Time) bool {
	return s.inflight > 0 && now.Sub(s.waitFrom) > s.r.cfg.Timeout
}

// errorKind classifies an error on an established connection.
func errorKind(err error, otherKind string) string {
	switch {
	case errors.Is(err, errMalformed):
		return KindParse
	case errors.Is(err, os.ErrDeadlineExceeded):
		return KindTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindEOF
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return KindReset
	}
	return otherKind
}

// newRunner prepares a run that started at start.
func newRunner(ctx context.Context, cfg Config, addr string, start time.Time) *runner {
	r := &runner{
		ctx:   ctx,
		cfg:   cfg,
		addr:  addr,
		head:  bytes.HasPrefix(cfg.Request, []byte("HEAD ")),
		batch: bytes.Repeat(cfg.Request, cfg.Pipeline),
		start: start,
	}
	if cfg.Duration > 0 {
		r.end = start.Add(cfg.Duration)
	}
	return r
}
