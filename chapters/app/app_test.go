package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"course/chapters/gateway"
)

// reply is a response as a client reads it off the wire.
type reply struct {
	status int
	header map[string]string // lower-case names; repeated fields joined with ", "
	body   string
	chunks int // chunks of a chunked body; 0 when the body is not chunked
	res    gateway.Result
}

// newRequest builds a request as a server on 127.0.0.1:8080 parses it, and the environ it gives the app.
func newRequest(method, target, body string, headers ...gateway.Header) (*gateway.Request, *gateway.Environ, error) {
	req := &gateway.Request{
		Method:        method,
		Target:        target,
		Proto:         "HTTP/1.1",
		Major:         1,
		Minor:         1,
		Header:        append([]gateway.Header{{Name: "Host", Value: "127.0.0.1:8080"}}, headers...),
		Body:          strings.NewReader(body),
		ContentLength: int64(len(body)),
	}
	env, err := gateway.NewEnviron(req, gateway.Server{Name: "127.0.0.1", Port: "8080", MultiThread: true})
	return req, env, err
}

// newEnviron is newRequest for a test that only needs the environ.
func newEnviron(t *testing.T, method, target, body string) *gateway.Environ {
	t.Helper()
	_, env, err := newRequest(method, target, body)
	require.NoError(t, err)
	return env
}

// roundTrip serves one request with app through gateway.Respond, as a server does, and parses what was
// written. It may run on any goroutine.
func roundTrip(app gateway.App, method, target, body string, headers ...gateway.Header) (reply, error) {
	req, env, err := newRequest(method, target, body, headers...)
	if err != nil {
		return reply{}, err
	}
	var out bytes.Buffer
	res, err := gateway.Respond(&out, req, env, app, false)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, target, err)
	}
	r, err := parse(out.Bytes(), method == "HEAD")
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w in %q", method, target, err, out.Bytes())
	}
	r.res = res
	return r, nil
}

// do is roundTrip on the test goroutine.
func do(t *testing.T, app gateway.App, method, target, body string, headers ...gateway.Header) reply {
	t.Helper()
	r, err := roundTrip(app, method, target, body, headers...)
	require.NoError(t, err)
	return r
}

// parse reads one HTTP/1.1 response from raw, which must hold nothing after it.
func parse(raw []byte, head bool) (reply, error) {
	br := bufio.NewReader(bytes.NewReader(raw))
	line := func() (string, error) {
		s, err := br.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("reading a line: %w", err)
		}
		if !strings.HasSuffix(s, "\r\n") {
			return "", fmt.Errorf("line %q does not end in CRLF", s)
		}
		return strings.TrimSuffix(s, "\r\n"), nil
	}
	l, err := line()
	if err != nil {
		return reply{}, err
	}
	proto, status, _ := strings.Cut(l, " ")
	code, err := strconv.Atoi(status[:min(3, len(status))])
	if proto != "HTTP/1.1" || err != nil {
		return reply{}, fmt.Errorf("bad status line %q", l)
	}
	r := reply{status: code, header: map[string]string{}}
	for {
		if l, err = line(); err != nil {
			return reply{}, err
		}
		if l == "" {
			break
		}
		name, value, ok := strings.Cut(l, ": ")
		if !ok {
			return reply{}, fmt.Errorf("bad header line %q", l)
		}
		name = strings.ToLower(name)
		if old, ok := r.header[name]; ok {
			value = old + ", " + value
		}
		r.header[name] = value
	}
	var body []byte
	switch {
	case head || code == 204 || code == 304:
	case r.header["transfer-encoding"] == "chunked":
		for {
			if l, err = line(); err != nil {
				return reply{}, err
			}
			n, err := strconv.ParseInt(l, 16, 64)
			if err != nil {
				return reply{}, fmt.Errorf("bad chunk size %q", l)
			}
			chunk := make([]byte, n+2)
			if _, err := io.ReadFull(br, chunk); err != nil {
				return reply{}, fmt.Errorf("short chunk: %w", err)
			}
			if !bytes.HasSuffix(chunk, []byte("\r\n")) {
				return reply{}, fmt.Errorf("chunk %q not followed by CRLF", chunk)
			}
			if n == 0 {
				break
			}
			body = append(body, chunk[:n]...)
			r.chunks++
		}
	case r.header["content-length"] != "":
		n, err := strconv.Atoi(r.header["content-length"])
		if err != nil {
			return reply{}, fmt.Errorf("bad Content-Length %q", r.header["content-length"])
		}
		body = make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			return reply{}, fmt.Errorf("body shorter than its Content-Length: %w", err)
		}
	default:
		body, _ = io.ReadAll(br)
	}
	if rest, _ := io.ReadAll(br); len(rest) > 0 {
		return reply{}, fmt.Errorf("%d bytes after the response", len(rest))
	}
	r.body = string(body)
	return r, nil
}

// call calls app directly, without a server, and returns what it passed to start and the body.
func call(t *testing.T, app gateway.App, method, target string) (string, []gateway.Header, gateway.Body, error) {
	t.Helper()
	env := newEnviron(t, method, target, "")
	var status string
	var headers []gateway.Header
	body, err := app(env, func(s string, h []gateway.Header) error {
		status, headers = s, h
		return nil
	})
	return status, headers, body, err
}

// readStats returns what GET /stats (or /stats?reset=1) shows, by JSON name.
func readStats(t *testing.T, app gateway.App, target string) map[string]int64 {
	t.Helper()
	r := do(t, app, "GET", target, "")
	require.Equal(t, 200, r.status, r.body)
	var s map[string]int64
	require.NoError(t, json.Unmarshal([]byte(r.body), &s), r.body)
	return s
}

// abc returns n bytes of the body of /stream and /big.
func abc(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteByte(byte('a' + i%26))
	}
	return b.String()
}

const (
	textPlain = "text/plain; charset=utf-8"
	appJSON   = "application/json"
)

func TestRoutes(t *testing.T) {
	tests := []struct {
		name          string
		method        string
		target        string
		body          string
		header        []gateway.Header
		wantStatus    int
		wantHeader    map[string]string // must be present with these values
		wantNoHeader  []string          // must be absent
		wantBody      string            // exact, unless wantBodyHas is set
		wantBodyHas   string
		wantChunks    int
		wantKeepAlive bool
	}{
		{
			name: "hello", method: "GET", target: "/hello",
			wantStatus: 200, wantHeader: map[string]string{"content-type": textPlain, "content-length": "14"},
			wantBody: "Hello, World!\n", wantKeepAlive: true,
		},
		{
			name: "HEAD hello", method: "HEAD", target: "/hello",
			wantStatus: 200, wantHeader: map[string]string{"content-type": textPlain, "content-length": "14"},
			wantBody: "", wantKeepAlive: true,
		},
		{
			name: "hello ignores its query", method: "GET", target: "/hello?x=%zz",
			wantStatus: 200, wantBody: "Hello, World!\n", wantKeepAlive: true,
		},
		{
			name: "echo POST", method: "POST", target: "/echo", body: "ping\x00pong",
			header:     []gateway.Header{{Name: "Content-Type", Value: "application/x-test"}},
			wantStatus: 200, wantHeader: map[string]string{"content-type": "application/x-test", "content-length": "9"},
			wantBody: "ping\x00pong", wantKeepAlive: true,
		},
		{
			name: "echo PUT without a Content-Type", method: "PUT", target: "/echo", body: "data",
			wantStatus: 200, wantHeader: map[string]string{"content-type": "application/octet-stream", "content-length": "4"},
			wantBody: "data", wantKeepAlive: true,
		},
		{
			name: "echo of an empty body", method: "POST", target: "/echo",
			wantStatus: 200, wantHeader: map[string]string{"content-length": "0"}, wantKeepAlive: true,
		},
		{
			name: "sleep", method: "GET", target: "/sleep?ms=5",
			wantStatus: 200, wantHeader: map[string]string{"content-type": textPlain},
			wantBody: "slept 5 ms\n", wantKeepAlive: true,
		},
		{
			name: "cpu", method: "GET", target: "/cpu?ms=5",
			wantStatus: 200, wantHeader: map[string]string{"content-type": textPlain},
			wantBody: "burned 5 ms\n", wantKeepAlive: true,
		},
		{
			name: "counter", method: "GET", target: "/counter",
			wantStatus: 200, wantHeader: map[string]string{"content-type": textPlain},
			wantBody: "1\n", wantKeepAlive: true,
		},
		{
			name: "stream", method: "GET", target: "/stream?chunks=4&bytes=30&ms=0",
			wantStatus: 200, wantHeader: map[string]string{"content-type": textPlain, "transfer-encoding": "chunked"},
			wantNoHeader: []string{"content-length"},
			wantBody:     abc(120), wantChunks: 4, wantKeepAlive: true,
		},
		{
			name: "stream without ms", method: "GET", target: "/stream?chunks=2&bytes=1",
			wantStatus: 200, wantHeader: map[string]string{"transfer-encoding": "chunked"},
			wantBody: "ab", wantChunks: 2, wantKeepAlive: true,
		},
		{
			name: "stream of no chunks", method: "GET", target: "/stream?chunks=0&bytes=10",
			wantStatus: 200, wantHeader: map[string]string{"content-length": "0"}, wantKeepAlive: true,
		},
		{
			name: "HEAD stream", method: "HEAD", target: "/stream?chunks=3&bytes=10",
			wantStatus: 200, wantNoHeader: []string{"content-length"}, wantKeepAlive: true,
		},
		{
			name: "big", method: "GET", target: "/big?bytes=200000",
			wantStatus: 200, wantHeader: map[string]string{"content-type": textPlain, "content-length": "200000"},
			wantNoHeader: []string{"transfer-encoding"},
			wantBody:     abc(200000), wantKeepAlive: true,
		},
		{
			name: "big of 0 bytes", method: "GET", target: "/big?bytes=0",
			wantStatus: 200, wantHeader: map[string]string{"content-length": "0"}, wantKeepAlive: true,
		},
		{
			name: "HEAD big is capped at 1 GiB", method: "HEAD", target: "/big?bytes=99999999999999999999",
			wantStatus: 200, wantHeader: map[string]string{"content-length": "1073741824"}, wantKeepAlive: true,
		},
		{
			name: "error", method: "GET", target: "/error",
			wantStatus: 500, wantBody: "500 Internal Server Error\n", wantKeepAlive: true,
		},
		{
			name: "panic", method: "GET", target: "/panic",
			wantStatus: 500, wantBody: "500 Internal Server Error\n", wantKeepAlive: true,
		},
		{
			name: "unknown path", method: "GET", target: "/nope",
			wantStatus: 404, wantHeader: map[string]string{"content-type": textPlain},
			wantBody: "404 not found: /nope\n", wantKeepAlive: true,
		},
		{
			name: "trailing slash", method: "GET", target: "/hello/",
			wantStatus: 404, wantBodyHas: "/hello/", wantKeepAlive: true,
		},
		{
			name: "POST hello", method: "POST", target: "/hello", body: "x",
			wantStatus: 405, wantHeader: map[string]string{"allow": "GET, HEAD"},
			wantBodyHas: "POST", wantKeepAlive: true,
		},
		{
			name: "GET echo", method: "GET", target: "/echo",
			wantStatus: 405, wantHeader: map[string]string{"allow": "POST, PUT"},
			wantBodyHas: "405 method GET not allowed on /echo", wantKeepAlive: true,
		},
		{
			name: "DELETE stats", method: "DELETE", target: "/stats",
			wantStatus: 405, wantHeader: map[string]string{"allow": "GET, HEAD"},
			wantBodyHas: "DELETE", wantKeepAlive: true,
		},
		{
			name: "sleep without ms", method: "GET", target: "/sleep",
			wantStatus: 400, wantBodyHas: "missing parameter ms", wantKeepAlive: true,
		},
		{
			name: "sleep with a bad ms", method: "GET", target: "/sleep?ms=abc",
			wantStatus: 400, wantBodyHas: `ms="abc"`, wantKeepAlive: true,
		},
		{
			name: "sleep with a negative ms", method: "GET", target: "/sleep?ms=-1",
			wantStatus: 400, wantBodyHas: `ms="-1"`, wantKeepAlive: true,
		},
		{
			name: "sleep with a bad query", method: "GET", target: "/sleep?ms=%zz",
			wantStatus: 400, wantBodyHas: "bad query string", wantKeepAlive: true,
		},
		{
			name: "cpu with a fraction", method: "GET", target: "/cpu?ms=1.5",
			wantStatus: 400, wantBodyHas: `ms="1.5"`, wantKeepAlive: true,
		},
		{
			name: "stream without bytes", method: "GET", target: "/stream?chunks=2",
			wantStatus: 400, wantBodyHas: "missing parameter bytes", wantKeepAlive: true,
		},
		{
			name: "stream with a bad ms", method: "GET", target: "/stream?chunks=2&bytes=1&ms=x",
			wantStatus: 400, wantBodyHas: `ms="x"`, wantKeepAlive: true,
		},
		{
			name: "big without bytes", method: "GET", target: "/big",
			wantStatus: 400, wantBodyHas: "missing parameter bytes", wantKeepAlive: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, New(Options{}), tt.method, tt.target, tt.body, tt.header...)
			require.Equal(t, tt.wantStatus, r.status, "body: %q", r.body)
			for name, want := range tt.wantHeader {
				require.Equal(t, want, r.header[name], "header %s", name)
			}
			for _, name := range tt.wantNoHeader {
				require.NotContains(t, r.header, name)
			}
			if tt.wantBodyHas != "" {
				require.Contains(t, r.body, tt.wantBodyHas)
			} else {
				require.Equal(t, tt.wantBody, r.body)
			}
			require.Equal(t, tt.wantChunks, r.chunks, "chunks")
			require.Equal(t, tt.wantKeepAlive, r.res.KeepAlive, "keep-alive")
		})
	}
}

func TestEnv(t *testing.T) {
	r := do(t, New(Options{}), "GET", "/env?a=1&b=%20", "",
		gateway.Header{Name: "X-Test", Value: "one"}, gateway.Header{Name: "x-test", Value: "two"})
	require.Equal(t, 200, r.status)
	require.Equal(t, appJSON, r.header["content-type"])
	require.True(t, strings.HasSuffix(r.body, "}\n"), "body %q does not end in a newline", r.body)

	var got map[string]string
	require.NoError(t, json.Unmarshal([]byte(r.body), &got))
	want := map[string]string{
		"REQUEST_METHOD":    "GET",
		"SCRIPT_NAME":       "",
		"PATH_INFO":         "/env",
		"QUERY_STRING":      "a=1&b=%20",
		"CONTENT_TYPE":      "",
		"CONTENT_LENGTH":    "0",
		"SERVER_NAME":       "127.0.0.1",
		"SERVER_PORT":       "8080",
		"SERVER_PROTOCOL":   "HTTP/1.1",
		"HTTP_HOST":         "127.0.0.1:8080",
		"HTTP_X_TEST":       "one, two",
		"wsgi.url_scheme":   "http",
		"wsgi.multithread":  "true",
		"wsgi.multiprocess": "false",
		"wsgi.run_once":     "false",
		"wsgi.version":      "1.0",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET /env mismatch (-want +got):\n%s", diff)
	}

	// The keys come sorted, so that two environs can be compared as text.
	dec := json.NewDecoder(strings.NewReader(r.body))
	_, err := dec.Token()
	require.NoError(t, err)
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		_, err = dec.Token()
		require.NoError(t, err)
	}
	require.Len(t, keys, len(want))
	require.True(t, slices.IsSorted(keys), "keys not sorted: %q", keys)
}

func TestPid(t *testing.T) {
	tests := []struct {
		worker string
		want   string
	}{
		{"", "0"},
		{"3", "3"},
		{"w-7", "w-7"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			r := do(t, New(Options{Worker: tt.worker}), "GET", "/pid", "")
			require.Equal(t, 200, r.status)
			require.Equal(t, appJSON, r.header["content-type"])
			require.Equal(t, fmt.Sprintf("{\"pid\":%d,\"worker\":%q}\n", os.Getpid(), tt.want), r.body)
		})
	}
}

func TestIntParamCaps(t *testing.T) {
	tests := []struct {
		query string
		name  string
		def   int64
		max   int64
		want  int64
	}{
		{"ms=70000", "ms", -1, maxMillis, maxMillis},
		{"ms=60000", "ms", -1, maxMillis, 60000},
		{"ms=0", "ms", -1, maxMillis, 0},
		{"ms=%2B7", "ms", -1, maxMillis, 7},
		{"ms=99999999999999999999", "ms", -1, maxMillis, maxMillis},
		{"chunks=1000000", "chunks", -1, maxChunks, maxChunks},
		{"bytes=2000000", "bytes", -1, maxChunkSize, maxChunkSize},
		{"bytes=2147483648", "bytes", -1, maxBig, maxBig},
		{"", "ms", 0, maxMillis, 0},
		{"ms=4&ms=9", "ms", 0, maxMillis, 4},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			env := newEnviron(t, "GET", "/x?"+tt.query, "")
			got, err := intParam(env, tt.name, tt.def, tt.max)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestTiming checks that /sleep, /cpu and /stream take at least the time asked for. Only lower bounds: a
// loaded machine may make anything slower.
func TestTiming(t *testing.T) {
	tests := []struct {
		target   string
		min      time.Duration
		wantBody string
	}{
		{"/sleep?ms=50", 50 * time.Millisecond, "slept 50 ms\n"},
		{"/cpu?ms=50", 50 * time.Millisecond, "burned 50 ms\n"},
		{"/stream?chunks=3&bytes=2&ms=40", 80 * time.Millisecond, "abcdef"}, // no wait before the first chunk
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			t.Parallel()
			t0 := time.Now()
			r := do(t, New(Options{}), "GET", tt.target, "")
			took := time.Since(t0)
			require.Equal(t, 200, r.status)
			require.Equal(t, tt.wantBody, r.body)
			require.GreaterOrEqual(t, took, tt.min)
		})
	}
}

// TestBigChunks checks that /big makes its body 64 KiB at a time, with the letters continuing across chunks.
func TestBigChunks(t *testing.T) {
	const n = 3*bigChunk + 1000
	status, headers, body, err := call(t, New(Options{}), "GET", fmt.Sprintf("/big?bytes=%d", n))
	require.NoError(t, err)
	require.Equal(t, "200 OK", status)
	require.Contains(t, headers, gateway.Header{Name: "Content-Length", Value: strconv.Itoa(n)})
	var got []byte
	var sizes []int
	for {
		chunk, err := body.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		sizes = append(sizes, len(chunk))
		got = append(got, chunk...)
	}
	require.NoError(t, body.Close())
	require.Equal(t, []int{bigChunk, bigChunk, bigChunk, 1000}, sizes)
	require.Equal(t, abc(n), string(got))
}

// statusError is a body read error that carries a status, as a server's body reader returns.
type statusError struct{ code int }

func (e *statusError) Error() string   { return fmt.Sprintf("request body: status %d", e.code) }
func (e *statusError) StatusCode() int { return e.code }

// failingReader yields some bytes, then err.
type failingReader struct {
	data string
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestEchoReadError(t *testing.T) {
	tooLarge := &statusError{413}
	a := New(Options{})

	env := newEnviron(t, "POST", "/echo", "")
	env.Input = &failingReader{data: "partial", err: tooLarge}
	body, err := a(env, func(string, []gateway.Header) error { return nil })
	require.Nil(t, body)
	require.Same(t, tooLarge, err, "the read error must come back unchanged")

	req, env, err := newRequest("POST", "/echo", "")
	require.NoError(t, err)
	env.Input = &failingReader{data: "partial", err: tooLarge}
	var out bytes.Buffer
	res, err := gateway.Respond(&out, req, env, a, false)
	require.NoError(t, err)
	require.Equal(t, 413, res.Status)
	require.False(t, res.KeepAlive, "the rest of the body is unread: the connection must close")
	r, err := parse(out.Bytes(), false)
	require.NoError(t, err)
	require.Equal(t, 413, r.status)
}

// TestStatsBodies checks the gauge deterministically, by holding bodies open rather than racing the clock.
func TestStatsBodies(t *testing.T) {
	a := New(Options{})
	zero := map[string]int64{"inflight": 0, "max_inflight": 0, "calls": 0, "closes": 0, "counter": 0}
	require.Equal(t, zero, readStats(t, a, "/stats"), "a new app; /stats does not count itself")

	var bodies []gateway.Body
	for range 3 {
		_, _, body, err := call(t, a, "GET", "/stream?chunks=2&bytes=5")
		require.NoError(t, err)
		bodies = append(bodies, body)
	}
	require.Equal(t, map[string]int64{"inflight": 3, "max_inflight": 3, "calls": 3, "closes": 0, "counter": 0},
		readStats(t, a, "/stats"), "three bodies open")

	require.NoError(t, bodies[0].Close())
	require.NoError(t, bodies[0].Close())
	require.Equal(t, map[string]int64{"inflight": 2, "max_inflight": 3, "calls": 3, "closes": 1, "counter": 0},
		readStats(t, a, "/stats"), "one body closed, twice: counted once")

	// Calls that end without a body end when the app returns, even by a panic.
	for _, target := range []string{"/error", "/panic", "/sleep?ms=x", "/nope"} {
		r := do(t, a, "GET", target, "")
		require.NotEqual(t, 200, r.status, target)
	}
	do(t, a, "GET", "/counter", "")
	require.Equal(t, map[string]int64{"inflight": 2, "max_inflight": 3, "calls": 8, "closes": 4, "counter": 1},
		readStats(t, a, "/stats"), "/error and /panic return no body; the others were closed by Respond")

	require.Equal(t, map[string]int64{"inflight": 2, "max_inflight": 3, "calls": 8, "closes": 4, "counter": 1},
		readStats(t, a, "/stats?reset=1"), "a reset shows the values it resets")
	require.Equal(t, map[string]int64{"inflight": 2, "max_inflight": 2, "calls": 0, "closes": 0, "counter": 1},
		readStats(t, a, "/stats"), "after a reset the peak is what is in flight; the counter stays")

	for _, b := range bodies[1:] {
		require.NoError(t, b.Close())
	}
	require.Equal(t, map[string]int64{"inflight": 0, "max_inflight": 2, "calls": 0, "closes": 2, "counter": 1},
		readStats(t, a, "/stats"))
}

// TestStatsConcurrent checks that concurrent /sleep calls all count as in flight at once.
func TestStatsConcurrent(t *testing.T) {
	t.Parallel()
	const n = 8
	a := New(Options{})
	// Each call sleeps far longer than it takes to start the others, even on a loaded machine.
	go1 := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-go1
			if r, err := roundTrip(a, "GET", "/sleep?ms=1500", ""); err != nil || r.status != 200 {
				t.Errorf("GET /sleep: %d %q, %v", r.status, r.body, err)
			}
		})
	}
	close(go1)
	wg.Wait()
	require.Equal(t, map[string]int64{"inflight": 0, "max_inflight": n, "calls": n, "closes": n, "counter": 0},
		readStats(t, a, "/stats"))
}

// TestCounterConcurrent checks that the default counter loses no update and hands out no value twice.
func TestCounterConcurrent(t *testing.T) {
	const goroutines, calls = 50, 100
	a := New(Options{})
	got := make([][]int, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range calls {
				r, err := roundTrip(a, "GET", "/counter", "")
				if err != nil {
					t.Error(err)
					return
				}
				n, err := strconv.Atoi(strings.TrimSuffix(r.body, "\n"))
				if err != nil {
					t.Errorf("GET /counter: body %q is not a number", r.body)
					return
				}
				got[g] = append(got[g], n)
			}
		})
	}
	wg.Wait()
	all := slices.Sorted(slices.Values(slices.Concat(got...)))
	want := make([]int, goroutines*calls)
	for i := range want {
		want[i] = i + 1
	}
	require.Equal(t, want, all, "every value from 1 to 5000 exactly once")
	require.Equal(t, int64(goroutines*calls), readStats(t, a, "/stats")["counter"])
}

// plainCounter is a Counter of the test's own, to check that Options.Counter is the one used.
type plainCounter struct{ n int64 }

func (c *plainCounter) Add(n int64) int64 { c.n += n; return c.n }
func (c *plainCounter) Value() int64      { return c.n }

func TestCounterInjected(t *testing.T) {
	c := &plainCounter{n: 41}
	a := New(Options{Counter: c})
	require.Equal(t, "42\n", do(t, a, "GET", "/counter", "").body)
	require.Equal(t, int64(42), c.n)
	require.Equal(t, int64(42), readStats(t, a, "/stats")["counter"])
}

func TestLockedCounter(t *testing.T) {
	c := NewLockedCounter()
	require.Equal(t, int64(0), c.Value())
	require.Equal(t, int64(5), c.Add(5))
	require.Equal(t, int64(3), c.Add(-2))
	require.Equal(t, int64(3), c.Value())
}

// TestCrash runs this test binary again with crashEnv set, so that the child calls GET /crash, and checks
// that the child exits with status 3: a crash cannot be tested in the process that crashes.
func TestCrash(t *testing.T) {
	const crashEnv = "APP_TEST_CRASH"
	if os.Getenv(crashEnv) == "1" {
		env := newEnviron(t, "GET", "/crash", "")
		env.Errors = os.Stderr
		New(Options{})(env, func(string, []gateway.Header) error { return nil })
		t.Fatal("GET /crash returned; want the process to exit")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "child: %v\n%s", err, out)
	require.Equal(t, 3, exit.ExitCode(), "child output:\n%s", out)
	require.Contains(t, string(out), "app: GET /crash: exiting with status 3")
}
