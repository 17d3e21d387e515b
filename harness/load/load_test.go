package load

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

const (
	okResp      = "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nHello, World!\n"
	closeResp   = "HTTP/1.1 200 OK\r\nContent-Length: 14\r\nConnection: close\r\n\r\nHello, World!\n"
	chunkedResp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nHello,\r\n8\r\n World!\n\r\n0\r\n\r\n"
	missingResp = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
	http10Resp  = "HTTP/1.0 200 OK\r\n\r\nHello, World!\n"
	headReq     = "HEAD / HTTP/1.1\r\nHost: test\r\n\r\n"
	headResp    = "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n"
)

// bigReq and bigResp are larger than socket buffers, so that writes are
// partial and reads take several calls.
var (
	bigReq  = []byte("GET / HTTP/1.1\r\nHost: test\r\nX-Pad: " + strings.Repeat("p", 4<<20) + "\r\n\r\n")
	bigResp = "HTTP/1.1 200 OK\r\nContent-Length: 2097152\r\n\r\n" + strings.Repeat("b", 2<<20)
)

// serveRaw starts a TCP server on 127.0.0.1 that calls handle on each
// connection, closes the connection when handle returns, and returns the
// server's address. Cleanup closes everything and waits for the handlers.
func serveRaw(t *testing.T, handle func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				handle(c, bufio.NewReader(c))
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// refusedAddr returns a loopback address that refuses connections: a socket
// bound to it, but not listening, keeps other tests from taking the port.
func refusedAddr(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	require.NoError(t, err)
	t.Cleanup(func() { unix.Close(fd) })
	require.NoError(t, unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	sa, err := unix.Getsockname(fd)
	require.NoError(t, err)
	return fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
}

// readRequest reads a request head; test requests have no body.
func readRequest(br *bufio.Reader) error {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if line == "\r\n" {
			return nil
		}
	}
}

// answerEach answers every request with resp; with closeAfter > 0 it answers
// request closeAfter with last instead and closes the connection.
func answerEach(resp string, closeAfter int, last string) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		for i := 1; readRequest(br) == nil; i++ {
			if i == closeAfter {
				io.WriteString(c, last)
				return
			}
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	}
}

// runFunc runs load with a given engine.
type runFunc func(context.Context, Config) (*Result, error)

// forEachEngine runs test in parallel subtests, one per engine of this system.
func forEachEngine(t *testing.T, test func(t *testing.T, run runFunc)) {
	names := make([]string, 0, len(engines))
	for name := range engines {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		engine := engines[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, func(ctx context.Context, cfg Config) (*Result, error) { return run(ctx, cfg, engine) })
		})
	}
}

func helloHandler(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "Hello, World!\n") }

func TestRunCountsAddUp(t *testing.T) {
	httpSrv := httptest.NewServer(http.HandlerFunc(helloHandler))
	t.Cleanup(httpSrv.Close)

	tests := []struct {
		name           string
		addr           string
		cfg            Config
		wantStatus     int   // every response's; 0 means 200
		wantBytes      int64 // -1: not checked
		wantReconnects int64
	}{
		{
			name:      "net/http",
			addr:      strings.TrimPrefix(httpSrv.URL, "http://"),
			cfg:       Config{Conns: 4, Requests: 500},
			wantBytes: -1,
		},
		{
			name:      "keep-alive, pipelined",
			addr:      serveRaw(t, answerEach(okResp, 0, "")),
			cfg:       Config{Conns: 3, Requests: 501, Pipeline: 4},
			wantBytes: 501 * int64(len(okResp)),
		},
		{
			name:      "chunked",
			addr:      serveRaw(t, answerEach(chunkedResp, 0, "")),
			cfg:       Config{Conns: 2, Requests: 300},
			wantBytes: 300 * int64(len(chunkedResp)),
		},
		{
			name:           "closes after every 3 requests",
			addr:           serveRaw(t, answerEach(okResp, 3, closeResp)),
			cfg:            Config{Conns: 1, Requests: 30},
			wantBytes:      20*int64(len(okResp)) + 10*int64(len(closeResp)),
			wantReconnects: 9,
		},
		{
			name:           "HTTP/1.0, body until close",
			addr:           serveRaw(t, answerEach("", 1, http10Resp)),
			cfg:            Config{Conns: 1, Requests: 10},
			wantBytes:      10 * int64(len(http10Resp)),
			wantReconnects: 9,
		},
		{
			name:      "HEAD",
			addr:      serveRaw(t, answerEach(headResp, 0, "")),
			cfg:       Config{Conns: 2, Requests: 100, Request: []byte(headReq)},
			wantBytes: 100 * int64(len(headResp)),
		},
		{
			name:       "status other than 200",
			addr:       serveRaw(t, answerEach(missingResp, 0, "")),
			cfg:        Config{Conns: 2, Requests: 100},
			wantStatus: 404,
			wantBytes:  100 * int64(len(missingResp)),
		},
		{
			name:      "more connections than histograms",
			addr:      serveRaw(t, answerEach(okResp, 0, "")),
			cfg:       Config{Conns: maxShards + 16, Requests: 300},
			wantBytes: 300 * int64(len(okResp)),
		},
		{
			name:      "large requests",
			addr:      serveRaw(t, answerEach(okResp, 0, "")),
			cfg:       Config{Conns: 2, Requests: 6, Request: bigReq},
			wantBytes: 6 * int64(len(okResp)),
		},
		{
			name:      "large responses",
			addr:      serveRaw(t, answerEach(bigResp, 0, "")),
			cfg:       Config{Conns: 2, Requests: 6},
			wantBytes: 6 * int64(len(bigResp)),
		},
		{
			name:      "open loop",
			addr:      serveRaw(t, answerEach(okResp, 0, "")),
			cfg:       Config{Conns: 4, Requests: 200, Rate: 2000, Pipeline: 2},
			wantBytes: 200 * int64(len(okResp)),
		},
	}
	forEachEngine(t, func(t *testing.T, run runFunc) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.cfg.Addr = tt.addr
				tt.cfg.Duration = time.Minute // a safety net; Requests ends the run
				res, err := run(context.Background(), tt.cfg)
				require.NoError(t, err)
				require.Empty(t, res.Errors)
				require.Equal(t, tt.cfg.Requests, res.Requests)
				require.Equal(t, map[int]int64{cmp.Or(tt.wantStatus, 200): tt.cfg.Requests}, res.Status)
				require.Equal(t, tt.wantReconnects, res.Reconnects)
				if tt.wantBytes >= 0 {
					require.Equal(t, tt.wantBytes, res.Bytes)
				}
				require.Positive(t, res.RPS)
				l := res.Latency
				require.Positive(t, l.P50)
				require.True(t, l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max,
					"percentiles out of order: %+v", l)
			})
		}
	})
}

// TestRunAbruptClose has the server close after every 3 responses without
// saying so: a request that finds the connection closed fails, and the
// connection is dialled again.
func TestRunAbruptClose(t *testing.T) {
	addr := serveRaw(t, answerEach(okResp, 3, okResp))
	forEachEngine(t, func(t *testing.T, run runFunc) {
		res, err := run(context.Background(), Config{Addr: addr, Conns: 1, Requests: 30, Duration: time.Minute})
		require.NoError(t, err)

		var failed int64
		for kind, n := range res.Errors {
			require.Contains(t, []string{KindEOF, KindReset}, kind)
			failed += n
		}
		// Each connection answers 3 requests; the next one fails unless the
		// client saw the close before sending it.
		require.Equal(t, int64(30), res.Requests+failed)
		require.LessOrEqual(t, failed, res.Reconnects)
		require.LessOrEqual(t, res.Requests, 3*(res.Reconnects+1))
		require.GreaterOrEqual(t, res.Requests, 3*res.Reconnects)
	})
}

func TestRunErrorKinds(t *testing.T) {
	readThen := func(after func(c net.Conn, br *bufio.Reader)) func(net.Conn, *bufio.Reader) {
		return func(c net.Conn, br *bufio.Reader) {
			if readRequest(br) == nil {
				after(c, br)
			}
		}
	}
	drain := func(_ net.Conn, br *bufio.Reader) { io.Copy(io.Discard, br) }

	tests := []struct {
		name string
		kind string
		addr string
	}{
		{"refused", KindConnect, refusedAddr(t)},
		{"no answer", KindTimeout, serveRaw(t, readThen(drain))},
		{"garbage", KindParse, serveRaw(t, readThen(func(c net.Conn, br *bufio.Reader) {
			io.WriteString(c, "garbage\r\n\r\n")
			drain(c, br)
		}))},
		{"close before answering", KindEOF, serveRaw(t, readThen(func(net.Conn, *bufio.Reader) {}))},
		{"close in the body", KindEOF, serveRaw(t, readThen(func(c net.Conn, _ *bufio.Reader) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ncut short")
		}))},
		{"reset", KindReset, serveRaw(t, readThen(func(c net.Conn, _ *bufio.Reader) {
			c.(*net.TCPConn).SetLinger(0) // close with a RST
		}))},
	}
	forEachEngine(t, func(t *testing.T, run runFunc) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				timeout := 10 * time.Second
				if tt.kind == KindTimeout {
					timeout = 100 * time.Millisecond
				}
				res, err := run(context.Background(), Config{
					Addr:     tt.addr,
					Conns:    1,
					Requests: 3,
					Duration: time.Minute,
					Timeout:  timeout,
				})
				require.NoError(t, err)
				require.Equal(t, map[string]int64{tt.kind: 3}, res.Errors)
				require.Zero(t, res.Requests)
				require.Empty(t, res.Status)
			})
		}
	})
}

func TestRunStopsAtDuration(t *testing.T) {
	httpSrv := httptest.NewServer(http.HandlerFunc(helloHandler))
	t.Cleanup(httpSrv.Close)
	silent := serveRaw(t, func(_ net.Conn, br *bufio.Reader) { io.Copy(io.Discard, br) })

	tests := []struct {
		name   string
		addr   string
		rate   float64
		answer bool
	}{
		{"closed loop", strings.TrimPrefix(httpSrv.URL, "http://"), 0, true},
		{"open loop", strings.TrimPrefix(httpSrv.URL, "http://"), 1000, true},
		{"server never answers", silent, 0, false},
	}
	forEachEngine(t, func(t *testing.T, run runFunc) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				const d = 300 * time.Millisecond
				res, err := run(context.Background(), Config{
					Addr: tt.addr, Conns: 2, Duration: d, Rate: tt.rate, Timeout: time.Minute,
				})
				require.NoError(t, err)
				require.GreaterOrEqual(t, res.Duration, d)
				require.Less(t, res.Duration, d+5*time.Second)
				// Requests cut short by the end of the run are not errors.
				require.Empty(t, res.Errors)
				if tt.answer {
					require.Positive(t, res.Requests)
				} else {
					require.Zero(t, res.Requests)
				}
			})
		}
	})
}

func TestRunStopsWithContext(t *testing.T) {
	silent := serveRaw(t, func(_ net.Conn, br *bufio.Reader) { io.Copy(io.Discard, br) })
	forEachEngine(t, func(t *testing.T, run runFunc) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		res, err := run(ctx, Config{Addr: silent, Conns: 3, Duration: time.Minute, Timeout: time.Minute})
		require.NoError(t, err)
		require.Less(t, time.Since(start), 10*time.Second)
		require.Empty(t, res.Errors)
	})
}

func TestRunOpenLoopRate(t *testing.T) {
	addr := serveRaw(t, answerEach(okResp, 0, ""))
	forEachEngine(t, func(t *testing.T, run runFunc) {
		t.Run("bounded by requests", func(t *testing.T) {
			const rate, n = 500, 150
			res, err := run(context.Background(), Config{Addr: addr, Conns: 3, Rate: rate, Requests: n, Duration: time.Minute})
			require.NoError(t, err)
			require.Equal(t, int64(n), res.Requests)
			// The last request is not due before (n-1)/rate.
			require.GreaterOrEqual(t, res.Duration, (n-1)*time.Second/rate)
			require.Less(t, res.Duration, 10*time.Second)
		})
		t.Run("bounded by duration", func(t *testing.T) {
			const rate, d = 200, 500 * time.Millisecond
			res, err := run(context.Background(), Config{Addr: addr, Conns: 2, Rate: rate, Duration: d})
			require.NoError(t, err)
			// 100 requests are due in 500ms; a loaded machine may fall behind.
			require.LessOrEqual(t, res.Requests, int64(101))
			require.GreaterOrEqual(t, res.Requests, int64(30))
		})
	})
}

// TestRunOpenLoopChargesDueTime has a server that takes 20ms per response
// while requests are due every 10ms: latency counted from the due time
// grows with the backlog, where a closed loop would report about 20ms.
func TestRunOpenLoopChargesDueTime(t *testing.T) {
	addr := serveRaw(t, func(c net.Conn, br *bufio.Reader) {
		for readRequest(br) == nil {
			time.Sleep(20 * time.Millisecond)
			if _, err := io.WriteString(c, okResp); err != nil {
				return
			}
		}
	})
	forEachEngine(t, func(t *testing.T, run runFunc) {
		res, err := run(context.Background(), Config{Addr: addr, Conns: 1, Rate: 100, Requests: 20, Duration: time.Minute})
		require.NoError(t, err)
		require.Equal(t, int64(20), res.Requests)
		// Request 19 is due at 190ms and answered no sooner than 400ms.
		require.GreaterOrEqual(t, res.Latency.Max, 200*time.Millisecond)
		require.GreaterOrEqual(t, res.Duration, 400*time.Millisecond)
	})
}

func TestRunRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"another host", Config{Addr: "10.0.0.1:80", Conns: 1, Requests: 1}, "not a loopback address"},
		{"a name", Config{Addr: "example.com:80", Conns: 1, Requests: 1}, "not a loopback address"},
		{"any address", Config{Addr: "0.0.0.0:80", Conns: 1, Requests: 1}, "not a loopback address"},
		{"no port", Config{Addr: "127.0.0.1", Conns: 1, Requests: 1}, "missing port"},
		{"no connections", Config{Addr: "127.0.0.1:80", Requests: 1}, "need at least 1"},
		{"no bound", Config{Addr: "127.0.0.1:80", Conns: 1}, "no bound"},
		{"negative", Config{Addr: "127.0.0.1:80", Conns: 1, Duration: -time.Second, Requests: 1}, "negative"},
		{"bad rate", Config{Addr: "127.0.0.1:80", Conns: 1, Requests: 1, Rate: math.NaN()}, "rate NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.cfg)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestRunProgress(t *testing.T) {
	addr := serveRaw(t, answerEach(okResp, 0, ""))
	var out bytes.Buffer // written only while Run runs
	_, err := Run(context.Background(), Config{Addr: addr, Conns: 1, Rate: 100, Duration: 700 * time.Millisecond, Progress: &out})
	require.NoError(t, err)
	// The lines themselves are TestProgressLine's: here, a goroutine starved past the end writes none.
	require.True(t, strings.HasSuffix(out.String(), "\r"), "the line is cleared at the end: %q", out.String())
}

// TestProgressLine waits for the progress line itself, however late its goroutine runs.
func TestProgressLine(t *testing.T) {
	r := &runner{start: time.Now(), tallies: []*tally{{}}}
	r.tallies[0].answered.Add(42)
	var out syncBuffer
	stop := r.progress(&out, time.Millisecond)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "        42 requests ") }, 10*time.Second,
		time.Millisecond, "the line says how many requests were answered")
	stop()
	require.Regexp(t, `rps +0 errors +\r +\r$`, out.String(), "the last line is cleared")
}

// syncBuffer is a bytes.Buffer that a goroutine may write while another reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestResultString(t *testing.T) {
	res := &Result{
		Duration: 5*time.Second + 123*time.Microsecond,
		Requests: 250000,
		RPS:      50000,
		Bytes:    31 << 20,
		Status:   map[int]int64{200: 249990, 503: 10},
		Errors:   map[string]int64{KindTimeout: 2, KindEOF: 1},
		Latency: Percentiles{
			P50: 812345 * time.Nanosecond, P90: 1500 * time.Microsecond, P99: 4 * time.Millisecond,
			P999: 30 * time.Millisecond, Max: 1234567 * time.Microsecond, Mean: 950 * time.Microsecond,
		},
		Reconnects: 3,
	}
	want := "250000 requests in 5s, 31.00MB read\n" +
		"Requests/sec: 50000.00\n" +
		"Latency: p50 812µs  p90 1.5ms  p99 4ms  p99.9 30ms  max 1.235s  mean 950µs\n" +
		"Status: 200: 249990 503: 10\n" +
		"Errors: eof: 1 timeout: 2\n" +
		"Reconnects: 3\n"
	require.Equal(t, want, res.String())
}
