// Package load generates HTTP/1.1 load against a server on the loopback
// interface and measures its throughput and latency.
//
// It is built to be as fast as wrk, so that a benchmark measures the server
// rather than the tool: a request serialized once, responses framed by a
// minimal parser, latencies recorded in HdrHistograms merged at the end. On
// Linux, event loops (one per core, as wrk runs a thread per core) drive the
// connections through non-blocking sockets and epoll and write each round's
// requests in a burst, as wrk does; against a Go server sharing two cores it
// spends a little less CPU per request than wrk and reaches 0.9 to 1.1 of
// its rate, 0.97 at the median (bench/loadgen.sh). Elsewhere a goroutine per
// connection does blocking I/O, which pays the Go scheduler for every
// response: 0.75 to 0.9 of wrk's rate on the same machine.
package load

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"course/harness"
)

// Config says what load to generate and for how long.
type Config struct {
	// Addr is the server's host:port. It must be a loopback address
	// ("127.0.0.1:8080", "[::1]:8080" or "localhost:8080"): this package never
	// loads another host.
	Addr string

	// Conns is the number of keep-alive connections.
	Conns int

	// Duration stops the run after this long.
	Duration time.Duration

	// Requests stops the run after this many requests have ended, each with a
	// response or an error (a failed dial counts as one). Zero means no count
	// bound. At least one of Duration and Requests must be set.
	Requests int64

	// Rate is the open-loop request rate in requests per second over all
	// connections; connection i of n sends at (i + k*n)/Rate seconds after the
	// start, and latency is counted from that intended time, so that a stalled
	// server is charged for the requests it delayed (no coordinated omission).
	// Zero means a closed loop: each connection sends its next request when the
	// previous response has arrived.
	Rate float64

	// Request is the raw request sent on every exchange. The default is
	// "GET / HTTP/1.1\r\nHost: Addr\r\n\r\n".
	Request []byte

	// Pipeline is the number of requests in flight per connection (default 1).
	// In a closed loop a connection writes Pipeline requests at once and reads
	// their responses before it writes again, as wrk does.
	Pipeline int

	// Timeout bounds the wait for a response, with up to 10% of slack
	// (default 5s). A late response counts as a "timeout" error and the
	// connection is re-dialled.
	Timeout time.Duration

	// Progress, if non-nil, receives a live progress line rewritten with \r
	// every 250ms, cleared at the end.
	Progress io.Writer

	// Retry sends again, once, on a new connection, a request that failed on
	// a kept-alive connection (one that had carried a response already)
	// because the server closed or reset it before any byte of the response
	// arrived. A server may close an idle connection at any moment, and the
	// request that crossed the close on the wire never reached the
	// application: RFC 9112 section 9.3.1 lets a client retry it when the
	// request is idempotent (RFC 9110 section 9.2.2), as browsers do. Such
	// requests count in Result.Retries, not in Errors; if the retry fails
	// too, that failure is an error.
	Retry bool
}

// DefaultTimeout is the response timeout when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Result is what a run measured.
type Result struct {
	Duration time.Duration // from the start until the last connection stopped
	Requests int64         // responses received
	RPS      float64       // Requests per second of Duration
	Bytes    int64         // bytes read from the server
	Status   map[int]int64 // responses by status code

	// Errors counts the requests that failed, by kind (the Kind
	// constants). An error while no request was in flight, such as the
	// server closing an idle connection, only has the connection re-dialled.
	Errors map[string]int64

	Reconnects int64       // connections dialled again after one closed
	Retries    int64       // requests sent again under Config.Retry
	Latency    Percentiles // over all responses
}

// Percentiles summarizes a latency distribution.
type Percentiles struct {
	P50, P90, P99, P999, Max, Mean time.Duration
}

// Error kinds, the keys of Result.Errors.
const (
	KindConnect = "connect" // the dial failed
	KindReset   = "reset"   // the server reset the connection
	KindEOF     = "eof"     // the server closed the connection before it answered
	KindTimeout = "timeout" // no response within Config.Timeout
	KindParse   = "parse"   // the response could not be framed
	KindRead    = "read"    // another read error
	KindWrite   = "write"   // another write error
)

// Histogram bounds, in microseconds.
const (
	histMin     = 1
	histMax     = 60_000_000
	histFigures = 3
)

// maxShards bounds the number of latency histograms (about 140 KB each) of
// the goroutine engine: beyond it, connections share them.
const maxShards = 64

// dialPause keeps a connection from spinning on a port that refuses it.
const dialPause = 10 * time.Millisecond

// Run generates the load cfg describes and returns what it measured. It stops
// at cfg.Duration, after cfg.Requests, or when ctx is done, whichever comes
// first; requests still in flight then are not counted. It returns an error
// if cfg is invalid or the system refuses what the run needs. While it runs,
// GOMAXPROCS is one more than the event loops it uses (one per core), and is
// put back when the last run going on ends.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	return run(ctx, cfg, engines[defaultEngine])
}

// run is Run with the engine that drives the connections.
func run(ctx context.Context, cfg Config, engine func(*runner) error) (*Result, error) {
	addr, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if cfg.Pipeline == 0 {
		cfg.Pipeline = 1
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if len(cfg.Request) == 0 {
		cfg.Request = []byte("GET / HTTP/1.1\r\nHost: " + cfg.Addr + "\r\n\r\n")
	}

	start := time.Now()
	var cancel context.CancelFunc
	if cfg.Duration > 0 {
		ctx, cancel = context.WithDeadline(ctx, start.Add(cfg.Duration))
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	r := newRunner(ctx, cfg, addr, start)
	stopProgress := r.progress(cfg.Progress, 250*time.Millisecond)
	err = engine(r)
	elapsed := time.Since(r.start)
	stopProgress()
	if err != nil {
		return nil, err
	}
	return r.result(elapsed), nil
}

// check validates cfg and returns the address to dial.
func (cfg *Config) check() (string, error) {
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return "", fmt.Errorf("load: address %q: %w", cfg.Addr, err)
	}
	if !harness.IsLoopback(host) {
		return "", fmt.Errorf("load: refusing to load %q: not a loopback address", cfg.Addr)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	switch {
	case cfg.Conns < 1:
		return "", fmt.Errorf("load: %d connections: need at least 1", cfg.Conns)
	case cfg.Duration < 0 || cfg.Requests < 0 || cfg.Pipeline < 0 || cfg.Timeout < 0:
		return "", errors.New("load: negative Duration, Requests, Pipeline or Timeout")
	case cfg.Duration == 0 && cfg.Requests == 0:
		return "", errors.New("load: no bound: set a Duration or a number of Requests")
	case !(cfg.Rate >= 0) || math.IsInf(cfg.Rate, 1):
		return "", fmt.Errorf("load: rate %v: want a finite number >= 0", cfg.Rate)
	}
	return net.JoinHostPort(host, port), nil
}

func (r *Result) summarize(h *hdrhistogram.Histogram) {
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	r.Latency = Percentiles{
		P50:  us(h.ValueAtQuantile(50)),
		P90:  us(h.ValueAtQuantile(90)),
		P99:  us(h.ValueAtQuantile(99)),
		P999: us(h.ValueAtQuantile(99.9)),
		Max:  us(h.Max()),
		Mean: time.Duration(h.Mean() * float64(time.Microsecond)),
	}
}

// String returns a short summary in the manner of wrk's.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests in %s, %s read\n", r.Requests, r.Duration.Round(time.Millisecond), byteSize(r.Bytes))
	fmt.Fprintf(&b, "Requests/sec: %.2f\n", r.RPS)
	l := r.Latency
	fmt.Fprintf(&b, "Latency: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s\n",
		roundDur(l.P50), roundDur(l.P90), roundDur(l.P99), roundDur(l.P999), roundDur(l.Max), roundDur(l.Mean))
	writeCounts(&b, "Status:", r.Status)
	writeCounts(&b, "Errors:", r.Errors)
	if r.Reconnects > 0 {
		fmt.Fprintf(&b, "Reconnects: %d\n", r.Reconnects)
	}
	if r.Retries > 0 {
		fmt.Fprintf(&b, "Retries: %d\n", r.Retries)
	}
	return b.String()
}

// roundDur keeps three or so significant digits.
func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	v, suffix := float64(n)/unit, "KB"
	for _, s := range []string{"MB", "GB", "TB"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	return fmt.Sprintf("%.2f%s", v, suffix)
}

// writeCounts writes a line "label k: n k: n ...", keys in order, unless counts is empty.
func writeCounts[K cmp.Ordered](b *strings.Builder, label string, counts map[K]int64) {
	if len(counts) == 0 {
		return
	}
	b.WriteString(label)
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(b, " %v: %d", k, counts[k])
	}
	b.WriteByte('\n')
}
