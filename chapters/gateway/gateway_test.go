package gateway_test

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"course/chapters/gateway"
)

// request builds a request with the given protocol version (0 or 1 for HTTP/1.0 or HTTP/1.1) and header
// lines ("Name: value").
func request(method, target string, minor int, headers ...string) *gateway.Request {
	req := &gateway.Request{
		Method: method, Target: target,
		Proto: "HTTP/1." + strconv.Itoa(minor), Major: 1, Minor: minor,
		Body: strings.NewReader(""),
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		req.Header = append(req.Header, gateway.Header{Name: name, Value: value})
	}
	return req
}

// script is a streamed body (gateway.Func) that yields its steps in order: a string is a chunk, an error is
// returned as such. It counts the calls the server makes.
type script struct {
	steps  []any
	nexts  int
	closes int
}

func (s *script) next() ([]byte, error) {
	s.nexts++
	if len(s.steps) == 0 {
		return nil, io.EOF
	}
	step := s.steps[0]
	s.steps = s.steps[1:]
	if err, ok := step.(error); ok {
		return nil, err
	}
	return []byte(step.(string)), nil
}

func (s *script) close() error {
	s.closes++
	return nil
}

// statusError is an app error that carries a status.
type statusError struct{ code int }

func (e *statusError) Error() string   { return "status error" }
func (e *statusError) StatusCode() int { return e.code }

var datePattern = regexp.MustCompile(`Date: [^\r]*\r\n`)

// withoutDate returns out without its Date header, which changes from run to run.
func withoutDate(out string) string {
	return datePattern.ReplaceAllString(out, "")
}

const (
	ok200  = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	err500 = "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Length: 26\r\n\r\n500 Internal Server Error\n"
	err500Close = "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Length: 26\r\nConnection: close\r\n\r\n500 Internal Server Error\n"
)

var (
	textPlain = []gateway.Header{{Name: "Content-Type", Value: "text/plain"}}
	length5   = []gateway.Header{{Name: "Content-Type", Value: "text/plain"}, {Name: "Content-Length", Value: "5"}}
	length3   = []gateway.Header{{Name: "Content-Type", Value: "text/plain"}, {Name: "Content-Length", Value: "3"}}
	length10  = []gateway.Header{{Name: "Content-Type", Value: "text/plain"}, {Name: "Content-Length", Value: "10"}}
)

func TestRespond(t *testing.T) {
	appFailed := errors.New("app failed")
	tests := []struct {
		name      string
		req       *gateway.Request
		mustClose bool

		// What the app does: panic, or call start (unless noStart), then return appErr, or a gateway.Bytes
		// of bytes, or a gateway.Func yielding steps.
		panic   bool
		noStart bool
		status  string // "200 OK" when empty
		headers []gateway.Header
		appErr  error
		bytes   []string
		steps   []any

		want      string // the response, without its Date header
		wantRes   gateway.Result
		wantErr   error
		wantNexts int // for a gateway.Func body: how many times Next was called; -1 to skip the check
	}{
		{
			name: "Bytes on HTTP/1.1: Content-Length", req: request("GET", "/", 1),
			headers: textPlain, bytes: []string{"hello"},
			want:    ok200 + "Content-Length: 5\r\n\r\nhello",
			wantRes: gateway.Result{Status: 200, KeepAlive: true, BodyBytes: 5},
		},
		{
			name: "Bytes in several chunks: Content-Length of them all", req: request("GET", "/", 1),
			headers: textPlain, bytes: []string{"he", "", "llo"},
			want:    ok200 + "Content-Length: 5\r\n\r\nhello",
			wantRes: gateway.Result{Status: 200, KeepAlive: true, BodyBytes: 5},
		},
		{
			name: "Func on HTTP/1.1: chunked", req: request("GET", "/", 1),
			headers: textPlain, steps: []any{"abc", "", "de"},
			want:    ok200 + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
			wantRes: gateway.Result{Status: 200, KeepAlive: true, BodyBytes: 5}, wantNexts: 4,
		},
		{
			name: "Func of empty chunks only: Content-Length 0", req: request("GET", "/", 1),
			headers: textPlain, steps: []any{"", ""},
			want:    ok200 + "Content-Length: 0\r\n\r\n",
			wantRes: gateway.Result{Status: 200, KeepAlive: true}, wantNexts: 3,
		},
		{
			name: "Func with the app's Content-Length: not chunked", req: request("GET", "/", 1),
			headers: length5, steps: []any{"abc", "de"},
			want:    ok200 + "Content-Length: 5\r\n\r\nabcde",
			wantRes: gateway.Result{Status: 200, KeepAlive: true, BodyBytes: 5}, wantNexts: 3,
		},
		{
			name: "Func on HTTP/1.0: close-delimited", req: request("GET", "/", 0),
			headers: textPlain, steps: []any{"abc", "de"},
			want:    ok200 + "Connection: close\r\n\r\nabcde",
			wantRes: gateway.Result{Status: 200, BodyBytes: 5}, wantNexts: 3,
		},
		{
			name: "Func on HTTP/1.0 with keep-alive asked: still close-delimited",
			req:  request("GET", "/", 0, "Connection: keep-alive"), headers: textPlain, steps: []any{"abc", "de"},
			want:    ok200 + "Connection: close\r\n\r\nabcde",
			wantRes: gateway.Result{Status: 200, BodyBytes: 5}, wantNexts: 3,
		},
		{
			name: "Bytes on HTTP/1.0: close", req: request("GET", "/", 0),
			headers: textPlain, bytes: []string{"hello"},
			want:    ok200 + "Content-Length: 5\r\nConnection: close\r\n\r\nhello",
			wantRes: gateway.Result{Status: 200, BodyBytes: 5},
		},
		{
			name: "Bytes on HTTP/1.0 with keep-alive asked: keep-alive",
			req:  request("GET", "/", 0, "Connection: Keep-Alive"), headers: textPlain, bytes: []string{"hello"},
			want:    ok200 + "Content-Length: 5\r\nConnection: keep-alive\r\n\r\nhello",
			wantRes: gateway.Result{Status: 200, KeepAlive: true, BodyBytes: 5},
		},
		{
			name: "client asks to close", req: request("GET", "/", 1, "Connection: foo, close"),
			headers: textPlain, bytes: []string{"hello"},
			want:    ok200 + "Content-Length: 5\r\nConnection: close\r\n\r\nhello",
			wantRes: gateway.Result{Status: 200, BodyBytes: 5},
		},
		{
			name: "server must close", req: request("GET", "/", 1), mustClose: true,
			headers: textPlain, steps: []any{"hello"},
			want:    ok200 + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			wantRes: gateway.Result{Status: 200, BodyBytes: 5}, wantNexts: 2,
		},
		{
			name: "HEAD of Bytes: the same Content-Length, no body", req: request("HEAD", "/", 1),
			headers: textPlain, bytes: []string{"he", "llo"},
			want:    ok200 + "Content-Length: 5\r\n\r\n",
			wantRes: gateway.Result{Status: 200, KeepAlive: true},
		},
		{
			name: "HEAD of Func with the app's Content-Length: the body is not pulled", req: request("HEAD", "/", 1),
			headers: length5, steps: []any{"hello"},
			want:    ok200 + "Content-Length: 5\r\n\r\n",
			wantRes: gateway.Result{Status: 200, KeepAlive: true},
		},
		{
			name: "HEAD of Func: no length, not chunked", req: request("HEAD", "/", 1),
			headers: textPlain, steps: []any{"hello"},
			want:    ok200 + "\r\n",
			wantRes: gateway.Result{Status: 200, KeepAlive: true},
		},
		{
			name: "204: no body, no length", req: request("GET", "/", 1),
			status: "204 No Content", steps: []any{"ignored"},
			want:    "HTTP/1.1 204 No Content\r\n\r\n",
			wantRes: gateway.Result{Status: 204, KeepAlive: true},
		},
		{
			name: "304 of Bytes: no body, no length", req: request("GET", "/", 1),
			status: "304 Not Modified", bytes: []string{"ignored"},
			want:    "HTTP/1.1 304 Not Modified\r\n\r\n",
			wantRes: gateway.Result{Status: 304, KeepAlive: true},
		},
		{
			name: "hop-by-hop Transfer-Encoding from the app: 500", req: request("GET", "/", 1),
			headers: []gateway.Header{{Name: "Transfer-Encoding", Value: "chunked"}}, steps: []any{"x"},
			want: err500, wantRes: gateway.Result{Status: 500, KeepAlive: true},
		},
		{
			name: "hop-by-hop Connection from the app: 500", req: request("GET", "/", 1),
			headers: []gateway.Header{{Name: "connection", Value: "close"}}, bytes: []string{"x"},
			want: err500, wantRes: gateway.Result{Status: 500, KeepAlive: true},
		},
		{
			name: "bad status: 500", req: request("GET", "/", 1),
			status: "OK", bytes: []string{"x"},
			want: err500, wantRes: gateway.Result{Status: 500, KeepAlive: true},
		},
		{
			name: "header value with CRLF: 500", req: request("GET", "/", 1),
			headers: []gateway.Header{{Name: "X-A", Value: "a\r\nX-B: b"}}, bytes: []string{"x"},
			want: err500, wantRes: gateway.Result{Status: 500, KeepAlive: true},
		},
		{
			name: "bad app Content-Length: 500", req: request("GET", "/", 1),
			headers: []gateway.Header{{Name: "Content-Length", Value: "-1"}}, bytes: []string{"x"},
			want: err500, wantRes: gateway.Result{Status: 500, KeepAlive: true},
		},
		{
			name: "start never called: 500", req: request("GET", "/", 1),
			noStart: true, steps: []any{"x"},
			want: err500, wantRes: gateway.Result{Status: 500, KeepAlive: true}, wantNexts: -1,
		},
		{
			name: "app error: 500, keep-alive", req: request("GET", "/", 1),
			appErr: appFailed,
			want:   err500, wantRes: gateway.Result{Status: 500, KeepAlive: true},
		},
		{
			name: "app error on HTTP/1.0: 500, close", req: request("GET", "/", 0),
			appErr: appFailed,
			want:   err500Close, wantRes: gateway.Result{Status: 500},
		},
		{
			name: "app error when the server must close: 500, close", req: request("GET", "/", 1), mustClose: true,
			appErr: appFailed,
			want:   err500Close, wantRes: gateway.Result{Status: 500},
		},
		{
			name: "app error with a status: that status, close", req: request("POST", "/", 1),
			appErr: &statusError{413},
			want: "HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n" +
				"Content-Length: 22\r\nConnection: close\r\n\r\n413 Content Too Large\n",
			wantRes: gateway.Result{Status: 413},
		},
		{
			name: "app panic: 500", req: request("GET", "/", 1),
			panic: true,
			want:  err500, wantRes: gateway.Result{Status: 500, KeepAlive: true},
		},
		{
			name: "error before the first non-empty chunk: 500", req: request("GET", "/", 1),
			headers: textPlain, steps: []any{"", "", appFailed},
			want: err500, wantRes: gateway.Result{Status: 500, KeepAlive: true}, wantNexts: 3,
		},
		{
			name: "error mid-body: aborted", req: request("GET", "/", 1),
			headers: textPlain, steps: []any{"abc", appFailed, "never"},
			want:    ok200 + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
			wantRes: gateway.Result{Status: 200, BodyBytes: 3}, wantErr: gateway.ErrAborted, wantNexts: 2,
		},
		{
			name: "error mid-body on HTTP/1.0: aborted", req: request("GET", "/", 0, "Connection: keep-alive"),
			headers: textPlain, steps: []any{"abc", appFailed},
			want:    ok200 + "Connection: close\r\n\r\nabc",
			wantRes: gateway.Result{Status: 200, BodyBytes: 3}, wantErr: gateway.ErrAborted, wantNexts: 2,
		},
		{
			name: "body longer than the app's Content-Length: cut, aborted", req: request("GET", "/", 1),
			headers: length3, steps: []any{"ab", "cdef", "gh"},
			want:    ok200 + "Content-Length: 3\r\n\r\nabc",
			wantRes: gateway.Result{Status: 200, BodyBytes: 3}, wantErr: gateway.ErrAborted, wantNexts: 2,
		},
		{
			name: "body shorter than the app's Content-Length: aborted", req: request("GET", "/", 1),
			headers: length10, steps: []any{"abc"},
			want:    ok200 + "Content-Length: 10\r\n\r\nabc",
			wantRes: gateway.Result{Status: 200, BodyBytes: 3}, wantErr: gateway.ErrAborted, wantNexts: 2,
		},
		{
			name: "Bytes shorter than the app's Content-Length: aborted", req: request("GET", "/", 1),
			headers: length10, bytes: []string{"abc"},
			want:    ok200 + "Content-Length: 10\r\n\r\nabc",
			wantRes: gateway.Result{Status: 200, BodyBytes: 3}, wantErr: gateway.ErrAborted,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := &script{steps: tt.steps}
			app := func(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
				if tt.panic {
					panic("boom")
				}
				if !tt.noStart {
					status := tt.status
					if status == "" {
						status = "200 OK"
					}
					// The error is dropped on purpose: the gateway must not rely on the app checking it.
					_ = start(status, tt.headers)
				}
				if tt.appErr != nil {
					return nil, tt.appErr
				}
				if tt.bytes != nil {
					chunks := make([][]byte, len(tt.bytes))
					for i, s := range tt.bytes {
						chunks[i] = []byte(s)
					}
					return gateway.Bytes(chunks...), nil
				}
				return gateway.Func(sc.next, sc.close), nil
			}
			var errs bytes.Buffer
			env, err := gateway.NewEnviron(tt.req, gateway.Server{Name: "127.0.0.1", Port: "8080", Errors: &errs})
			require.NoError(t, err)
			var out bytes.Buffer
			res, err := gateway.Respond(&out, tt.req, env, app, tt.mustClose)

			require.ErrorIs(t, err, tt.wantErr)
			if tt.wantErr == nil {
				require.NoError(t, err)
			}
			if diff := cmp.Diff(tt.want, withoutDate(out.String())); diff != "" {
				t.Errorf("response mismatch (-want +got):\n%s", diff)
			}
			require.Equal(t, tt.wantRes, res)
			if tt.appErr == nil && !tt.panic && tt.bytes == nil {
				require.Equal(t, 1, sc.closes, "Close calls")
				if tt.wantNexts >= 0 {
					require.Equal(t, tt.wantNexts, sc.nexts, "Next calls")
				}
			}
			appFailed := tt.appErr != nil || tt.panic || slices.ContainsFunc(tt.steps, func(s any) bool {
				_, ok := s.(error)
				return ok
			})
			if appFailed {
				require.NotEmpty(t, errs.String(), "the app's failure is logged to wsgi.errors")
			}
		})
	}
}

// TestRespondHeadersWait checks that nothing is written until the app yields a non-empty chunk: until then
// the app may still fail and get a clean 500.
func TestRespondHeadersWait(t *testing.T) {
	req := request("GET", "/", 1)
	env, err := gateway.NewEnviron(req, gateway.Server{})
	require.NoError(t, err)
	var out bytes.Buffer
	var written []int // len(out) at each call of Next
	steps := []string{"", "", "abc", "def"}
	app := func(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
		require.NoError(t, start("200 OK", nil))
		next := func() ([]byte, error) {
			written = append(written, out.Len())
			if len(steps) == 0 {
				return nil, io.EOF
			}
			s := steps[0]
			steps = steps[1:]
			return []byte(s), nil
		}
		return gateway.Func(next, nil), nil
	}
	_, err = gateway.Respond(&out, req, env, app, false)
	require.NoError(t, err)
	require.Len(t, written, 5)
	require.Equal(t, []int{0, 0, 0}, written[:3], "written before the first non-empty chunk")
	require.NotZero(t, written[3], "the headers and the first chunk are sent before the next is pulled")
}

// flushWriter makes written bytes visible only when flushed, as a *bufio.Writer over a socket does.
type flushWriter struct {
	pending, flushed bytes.Buffer
}

func (w *flushWriter) Write(p []byte) (int, error) { return w.pending.Write(p) }

func (w *flushWriter) Flush() error {
	_, err := w.pending.WriteTo(&w.flushed)
	return err
}

// TestRespondFlushes checks that each chunk reaches the client before the next one is pulled, so that a
// streamed body streams.
func TestRespondFlushes(t *testing.T) {
	req := request("GET", "/", 1)
	env, err := gateway.NewEnviron(req, gateway.Server{})
	require.NoError(t, err)
	w := &flushWriter{}
	var seen []string // what the client had received at each call of Next
	chunks := []string{"one", "two", "three"}
	app := func(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
		require.NoError(t, start("200 OK", nil))
		next := func() ([]byte, error) {
			seen = append(seen, w.flushed.String())
			if len(chunks) == 0 {
				return nil, io.EOF
			}
			c := chunks[0]
			chunks = chunks[1:]
			return []byte(c), nil
		}
		return gateway.Func(next, nil), nil
	}
	_, err = gateway.Respond(w, req, env, app, false)
	require.NoError(t, err)
	require.Len(t, seen, 4)
	require.Empty(t, seen[0])
	require.True(t, strings.HasSuffix(seen[1], "\r\n\r\n3\r\none\r\n"), "after the first chunk: %q", seen[1])
	require.True(t, strings.HasSuffix(seen[2], "3\r\ntwo\r\n"), "after the second chunk: %q", seen[2])
	require.True(t, strings.HasSuffix(seen[3], "5\r\nthree\r\n"), "after the third chunk: %q", seen[3])
	require.True(t, strings.HasSuffix(w.flushed.String(), "0\r\n\r\n"), "the last chunk is flushed")
	require.Zero(t, w.pending.Len(), "nothing left unflushed")
}

func TestRespondDate(t *testing.T) {
	req := request("GET", "/", 1)
	env, err := gateway.NewEnviron(req, gateway.Server{})
	require.NoError(t, err)

	var out bytes.Buffer
	hello := func(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
		err := start("200 OK", nil)
		return gateway.Bytes([]byte("hi")), err
	}
	_, err = gateway.Respond(&out, req, env, hello, false)
	require.NoError(t, err)
	dates := datePattern.FindAllString(out.String(), -1)
	require.Len(t, dates, 1)
	date, err := time.Parse("Mon, 02 Jan 2006 15:04:05 GMT", strings.TrimSpace(strings.TrimPrefix(dates[0], "Date: ")))
	require.NoError(t, err, "Date is an IMF-fixdate")
	require.WithinDuration(t, time.Now(), date, time.Hour)

	out.Reset()
	dated := func(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
		err := start("200 OK", []gateway.Header{{Name: "date", Value: "Thu, 01 Jan 2026 00:00:00 GMT"}})
		return gateway.Bytes([]byte("hi")), err
	}
	_, err = gateway.Respond(&out, req, env, dated, false)
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(strings.ToLower(out.String()), "date: "),
		"the app's Date is the only one: %q", out.String())
}

// errWriter fails every write.
type errWriter struct{}

var errWrite = errors.New("connection reset")

func (errWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestRespondWriteError(t *testing.T) {
	tests := []struct {
		name string
		app  func(sc *script) gateway.App
	}{
		{"body", func(sc *script) gateway.App {
			return func(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
				err := start("200 OK", nil)
				return gateway.Func(sc.next, sc.close), err
			}
		}},
		{"error response", func(sc *script) gateway.App {
			return func(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
				return gateway.Func(sc.next, sc.close), errors.New("app failed")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request("GET", "/", 1)
			env, err := gateway.NewEnviron(req, gateway.Server{})
			require.NoError(t, err)
			sc := &script{steps: []any{"abc"}}
			_, err = gateway.Respond(errWriter{}, req, env, tt.app(sc), false)
			require.ErrorIs(t, err, errWrite)
			require.Equal(t, 1, sc.closes, "the body is closed even when the client is gone")
		})
	}
}

func TestNewEnviron(t *testing.T) {
	srv := gateway.Server{Name: "127.0.0.1", Port: "8080"}
	base := func(path, query string, extra map[string]string) map[string]string {
		v := map[string]string{
			"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
			"SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1",
			"CONTENT_TYPE": "", "CONTENT_LENGTH": "0",
		}
		for k, x := range extra {
			v[k] = x
		}
		return v
	}
	tests := []struct {
		name string
		req  *gateway.Request
		want map[string]string
	}{
		{
			name: "path decoded, query raw",
			req:  request("GET", "/a%20b/c%2Fd?x=1&y=%20", 1),
			want: base("/a b/c/d", "x=1&y=%20", nil),
		},
		{
			name: "empty query",
			req:  request("GET", "/?", 1),
			want: base("/", "", nil),
		},
		{
			name: "headers become HTTP_*, repeated ones joined",
			req:  request("GET", "/", 1, "Accept: a", "X-Forwarded-For: 10.0.0.1", "accept: b"),
			want: base("/", "", map[string]string{"HTTP_ACCEPT": "a, b", "HTTP_X_FORWARDED_FOR": "10.0.0.1"}),
		},
		{
			name: "SERVER_NAME from Host",
			req:  request("GET", "/", 1, "Host: example.com:9000"),
			want: base("/", "", map[string]string{"HTTP_HOST": "example.com:9000", "SERVER_NAME": "example.com"}),
		},
		{
			name: "absolute-form target",
			req:  request("GET", "http://example.com/p%2Fq?z=1", 1, "Host: other.org"),
			want: base("/p/q", "z=1", map[string]string{"HTTP_HOST": "other.org", "SERVER_NAME": "example.com"}),
		},
		{
			name: "absolute-form target without a path",
			req:  request("GET", "http://example.com", 1),
			want: base("/", "", map[string]string{"SERVER_NAME": "example.com"}),
		},
		{
			name: "IPv6 Host",
			req:  request("GET", "/", 1, "Host: [::1]:8080"),
			want: base("/", "", map[string]string{"HTTP_HOST": "[::1]:8080", "SERVER_NAME": "::1"}),
		},
		{
			name: "CONTENT_TYPE and CONTENT_LENGTH, not HTTP_*",
			req: func() *gateway.Request {
				r := request("POST", "/echo", 1, "Content-Type: text/plain", "Content-Length: 5")
				r.ContentLength = 5
				return r
			}(),
			want: base("/echo", "", map[string]string{
				"REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/plain", "CONTENT_LENGTH": "5",
			}),
		},
		{
			name: "chunked body: CONTENT_LENGTH empty",
			req: func() *gateway.Request {
				r := request("POST", "/echo", 1, "Transfer-Encoding: chunked")
				r.ContentLength = -1
				return r
			}(),
			want: base("/echo", "", map[string]string{
				"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked",
			}),
		},
		{
			name: "HTTP/1.0",
			req:  request("GET", "/", 0),
			want: base("/", "", map[string]string{"SERVER_PROTOCOL": "HTTP/1.0"}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := gateway.NewEnviron(tt.req, srv)
			require.NoError(t, err)
			if diff := cmp.Diff(tt.want, env.Vars); diff != "" {
				t.Errorf("Vars mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewEnvironBadTarget(t *testing.T) {
	for _, target := range []string{"", "*", "example.com/x", "/a%zz", "/%", "http://example.com/%zz"} {
		t.Run(target, func(t *testing.T) {
			_, err := gateway.NewEnviron(request("GET", target, 1), gateway.Server{})
			var te *gateway.TargetError
			require.ErrorAs(t, err, &te)
			require.Equal(t, target, te.Target)
			require.Equal(t, 400, gateway.StatusOf(err), "a bad target is the client's fault")
		})
	}
}

func TestEnvironFlags(t *testing.T) {
	req := request("GET", "/", 1)
	req.Body = nil
	env, err := gateway.NewEnviron(req, gateway.Server{MultiThread: true})
	require.NoError(t, err)
	require.Equal(t, io.Discard, env.Errors, "no error stream: discard")
	n, err := env.Input.Read(make([]byte, 1))
	require.Equal(t, 0, n)
	require.ErrorIs(t, err, io.EOF, "no body: an empty input")

	m := env.Map()
	for k, want := range map[string]string{
		"wsgi.url_scheme": "http", "wsgi.multithread": "true", "wsgi.multiprocess": "false",
		"wsgi.run_once": "false", "wsgi.version": "1.0", "PATH_INFO": "/",
	} {
		require.Equal(t, want, m[k], k)
	}
	require.Equal(t, []string{
		"CONTENT_LENGTH", "CONTENT_TYPE", "PATH_INFO", "QUERY_STRING", "REQUEST_METHOD", "SCRIPT_NAME",
		"SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL",
	}, env.Keys())
}

func TestWantsKeepAlive(t *testing.T) {
	tests := []struct {
		minor   int
		headers []string
		want    bool
	}{
		{1, nil, true},
		{1, []string{"Connection: close"}, false},
		{1, []string{"Connection: Upgrade, CLOSE"}, false},
		{1, []string{"Connection: keep-alive", "Connection: close"}, false},
		{0, nil, false},
		{0, []string{"Connection: keep-alive"}, true},
		{0, []string{"Connection: keep-alive, close"}, false},
	}
	for _, tt := range tests {
		req := request("GET", "/", tt.minor, tt.headers...)
		require.Equal(t, tt.want, req.WantsKeepAlive(), "HTTP/1.%d %q", tt.minor, tt.headers)
	}
}

// TestRespondMisbehavingApp checks that an app that breaks the contract gets a 500 or an aborted response,
// never a crashed server.
func TestRespondMisbehavingApp(t *testing.T) {
	ok := func(env *gateway.Environ, start gateway.StartResponse) error {
		return start("200 OK", nil)
	}
	tests := []struct {
		name   string
		minor  int
		app    gateway.App
		prefix string
		keep   bool
		err    error
	}{
		{"nil body is empty", 1, func(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
			return nil, ok(env, start)
		}, "HTTP/1.1 200 OK\r\n", true, nil},
		{"panic in Next before the first chunk", 1, func(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
			return gateway.Func(func() ([]byte, error) { panic("boom") }, nil), ok(env, start)
		}, "HTTP/1.1 500 Internal Server Error\r\n", true, nil},
		{"panic in Next after the first chunk", 1, func(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
			n := 0
			return gateway.Func(func() ([]byte, error) {
				if n++; n > 1 {
					panic("boom")
				}
				return []byte("a"), nil
			}, nil), ok(env, start)
		}, "HTTP/1.1 200 OK\r\n", false, gateway.ErrAborted},
		{"panic in Close", 1, func(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
			return gateway.Func(func() ([]byte, error) { return nil, io.EOF }, func() error { panic("boom") }), ok(env, start)
		}, "HTTP/1.1 200 OK\r\n", true, nil},
		{"HTTP/1.0 keep-alive kept on a 500", 0, func(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
			return nil, errors.New("fail")
		}, "HTTP/1.1 500 Internal Server Error\r\n", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request("GET", "/", tt.minor, "Connection: keep-alive")
			var errs bytes.Buffer
			env, err := gateway.NewEnviron(req, gateway.Server{Errors: &errs})
			require.NoError(t, err)
			var out bytes.Buffer
			res, err := gateway.Respond(&out, req, env, tt.app, false)
			require.ErrorIs(t, err, tt.err)
			require.True(t, strings.HasPrefix(out.String(), tt.prefix), "got %q", out.String())
			require.Equal(t, tt.keep, res.KeepAlive)
			if tt.keep && tt.minor == 0 {
				require.Contains(t, out.String(), "Connection: keep-alive\r\n", "a kept HTTP/1.0 connection must say so")
			}
		})
	}
}

// TestFieldsDoNotAllocate checks that the header lookups that run for every request allocate nothing.
func TestFieldsDoNotAllocate(t *testing.T) {
	r := &gateway.Request{Header: []gateway.Header{{Name: "Host", Value: "x"}, {Name: "Connection", Value: "keep-alive, Upgrade"}}}
	allocs := testing.AllocsPerRun(100, func() {
		if r.Get("host") != "x" || !r.HasToken("connection", "upgrade") || r.HasToken("Connection", "close") {
			t.Fatal("wrong lookup")
		}
		n := 0
		for range r.Fields("Host") {
			n++
		}
		if n != 1 {
			t.Fatal("wrong count")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per lookup, want 0", allocs)
	}
}
