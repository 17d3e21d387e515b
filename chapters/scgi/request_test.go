package scgi_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"course/chapters/gateway"
	"course/chapters/http1"
	"course/chapters/scgi"
)

// specExample is the request of section 3 of the protocol's specification (python.ca/scgi/protocol.txt).
const specExample = "70:" +
	"CONTENT_LENGTH\x0027\x00" +
	"SCGI\x001\x00" +
	"REQUEST_METHOD\x00POST\x00" +
	"REQUEST_URI\x00/deepthought\x00" +
	"," +
	"What is the answer to life?"

// environ returns an environ with vars and body, as a front end has it.
func environ(body io.Reader, kv ...string) *gateway.Environ {
	vars := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		vars[kv[i]] = kv[i+1]
	}
	return &gateway.Environ{Vars: vars, Input: body}
}

// statusError is a body read error that carries a status, as package http1's body readers return.
type statusError struct{ code int }

func (e *statusError) Error() string   { return "body too large" }
func (e *statusError) StatusCode() int { return e.code }

// failingReader yields data, then err.
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

func TestWriteRequest(t *testing.T) {
	tests := []struct {
		name string
		env  *gateway.Environ
		want string
	}{
		{
			name: "the specification's example",
			env: environ(strings.NewReader("What is the answer to life?"),
				"CONTENT_LENGTH", "27", "REQUEST_METHOD", "POST", "REQUEST_URI", "/deepthought"),
			want: specExample,
		},
		{
			name: "the others sorted after CONTENT_LENGTH and SCGI; empty values kept",
			env:  environ(strings.NewReader(""), "QUERY_STRING", "", "A", "1", "CONTENT_LENGTH", "0"),
			want: "42:CONTENT_LENGTH\x000\x00SCGI\x001\x00A\x001\x00QUERY_STRING\x00\x00,",
		},
		{
			name: "an SCGI variable of the environ is not sent twice",
			env:  environ(strings.NewReader(""), "SCGI", "2", "CONTENT_LENGTH", "0"),
			want: "24:CONTENT_LENGTH\x000\x00SCGI\x001\x00,",
		},
		{
			name: "a chunked body (no CONTENT_LENGTH) is read first and counted",
			env:  environ(strings.NewReader("hello"), "CONTENT_LENGTH", ""),
			want: "24:CONTENT_LENGTH\x005\x00SCGI\x001\x00,hello",
		},
		{
			name: "no more of the body than CONTENT_LENGTH",
			env:  environ(strings.NewReader("hello, and more"), "CONTENT_LENGTH", "5"),
			want: "24:CONTENT_LENGTH\x005\x00SCGI\x001\x00,hello",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			require.NoError(t, scgi.WriteRequest(&out, tt.env))
			require.Equal(t, tt.want, out.String())
		})
	}
}

func TestWriteRequestFails(t *testing.T) {
	tooLarge := &statusError{413}
	tests := []struct {
		name     string
		env      *gateway.Environ
		wantCode int // the status the error carries (gateway.StatusOf)
		wantErr  string
	}{
		{
			name:     "a NUL byte in a value",
			env:      environ(strings.NewReader(""), "CONTENT_LENGTH", "0", "PATH_INFO", "/a\x00b"),
			wantCode: 400, wantErr: `variable "PATH_INFO" holds a NUL byte`,
		},
		{
			name:     "an empty name",
			env:      environ(strings.NewReader(""), "CONTENT_LENGTH", "0", "", "x"),
			wantCode: 400, wantErr: `variable "" holds a NUL byte or is unnamed`,
		},
		{
			name:     "a bad CONTENT_LENGTH",
			env:      environ(strings.NewReader(""), "CONTENT_LENGTH", "-1"),
			wantCode: 400, wantErr: `CONTENT_LENGTH "-1" is not a number of bytes`,
		},
		{
			name:     "a body shorter than CONTENT_LENGTH",
			env:      environ(strings.NewReader("abc"), "CONTENT_LENGTH", "5"),
			wantCode: 500, wantErr: "the request body ended after 3 of its 5 bytes",
		},
		{
			name:     "a chunked body over the HTTP reader's limit keeps its status",
			env:      environ(&failingReader{data: "abc", err: tooLarge}, "CONTENT_LENGTH", ""),
			wantCode: 413, wantErr: "reading the request body to count it: body too large",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := scgi.WriteRequest(io.Discard, tt.env)
			require.ErrorContains(t, err, tt.wantErr)
			require.Equal(t, tt.wantCode, gateway.StatusOf(err))
		})
	}
}

// read reads one request from raw, and its body.
func read(t *testing.T, raw string, lim scgi.Limits) (*scgi.Request, string, error) {
	t.Helper()
	req, err := scgi.ReadRequest(bufio.NewReader(strings.NewReader(raw)), lim)
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(req.Body)
	return req, string(body), err
}

func TestReadRequest(t *testing.T) {
	req, body, err := read(t, specExample, scgi.DefaultLimits)
	require.NoError(t, err)
	want := map[string]string{"CONTENT_LENGTH": "27", "REQUEST_METHOD": "POST", "REQUEST_URI": "/deepthought"}
	require.Equal(t, want, req.Vars, "SCGI is the protocol's, not a CGI variable")
	require.Equal(t, int64(27), req.ContentLength)
	require.Equal(t, "What is the answer to life?", body)

	// The body is CONTENT_LENGTH bytes: what follows is not read as part of it.
	req, body, err = read(t, "24:CONTENT_LENGTH\x003\x00SCGI\x001\x00,abcdef", scgi.DefaultLimits)
	require.NoError(t, err)
	require.Equal(t, "abc", body)

	req, body, err = read(t, "26:CONTENT_LENGTH\x00003\x00SCGI\x001\x00,abc", scgi.DefaultLimits)
	require.NoError(t, err)
	require.Equal(t, "abc", body)
	require.Equal(t, "3", req.Vars["CONTENT_LENGTH"], "leading zeros are allowed, and dropped")

	env := req.Environ(gateway.Server{MultiThread: true, MultiProcess: true})
	require.Equal(t, map[string]string{
		"CONTENT_LENGTH": "3", "wsgi.url_scheme": "http", "wsgi.version": "1.0",
		"wsgi.multithread": "true", "wsgi.multiprocess": "true", "wsgi.run_once": "false",
	}, env.Map())
	require.NotNil(t, env.Errors, "wsgi.errors is never nil")

	req, _, err = read(t, "33:CONTENT_LENGTH\x000\x00SCGI\x001\x00HTTPS\x00on\x00,", scgi.DefaultLimits)
	require.NoError(t, err)
	require.Equal(t, "https", req.Environ(gateway.Server{}).URLScheme)
}

func TestReadRequestEOF(t *testing.T) {
	_, _, err := read(t, "", scgi.DefaultLimits)
	require.ErrorIs(t, err, io.EOF, "a connection closed before a request is not a bad request")
}

func TestReadRequestRefused(t *testing.T) {
	small := scgi.Limits{MaxHeader: 40, MaxBody: 10}
	tests := []struct {
		name     string
		raw      string
		wantCode int
		wantErr  string
	}{
		{"an HTTP request", "GET / HTTP/1.1\r\n\r\n", 400, "must start with a netstring's length and a colon, as 70:, not 'G'"},
		{"no length", ":abc,", 400, "not ':'"},
		{"a leading zero", "024:CONTENT_LENGTH\x000\x00SCGI\x001\x00,", 400, "leading zero"},
		{"closed in the length", "24", 400, "connection closed in the netstring's length"},
		{"longer than the limit", "41:", 431, "the variables are longer than 40 bytes"},
		{"a huge length", "99999999999999999999999:", 431, "longer than 40 bytes"},
		{"closed in the variables", "24:CONTENT_LENGTH\x00", 400, "connection closed after 15 of the 24 bytes of the variables"},
		{"closed before the comma", "24:CONTENT_LENGTH\x000\x00SCGI\x001\x00", 400, "connection closed before the comma that ends the netstring"},
		{"no comma", "24:CONTENT_LENGTH\x000\x00SCGI\x001\x00;", 400, "ends in ';', not a comma"},
		{"an empty netstring", "0:,", 400, "the variables do not end in a NUL byte"},
		{"no final NUL", "23:CONTENT_LENGTH\x000\x00SCGI\x001,", 400, "do not end in a NUL byte"},
		{"a name without a value", "29:CONTENT_LENGTH\x000\x00SCGI\x001\x00NAME\x00,", 400, "a name without a value"},
		{"CONTENT_LENGTH not first", "24:SCGI\x001\x00CONTENT_LENGTH\x000\x00,", 400, `the first variable is "SCGI"; it must be CONTENT_LENGTH`},
		{"an empty name", "27:CONTENT_LENGTH\x000\x00SCGI\x001\x00\x00x\x00,", 400, "a variable has an empty name"},
		{"a name twice", "31:CONTENT_LENGTH\x000\x00SCGI\x001\x00SCGI\x001\x00,", 400, `variable "SCGI" is sent twice`},
		{"an empty CONTENT_LENGTH", "23:CONTENT_LENGTH\x00\x00SCGI\x001\x00,", 400, `CONTENT_LENGTH "" is not a number of bytes`},
		{"a signed CONTENT_LENGTH", "25:CONTENT_LENGTH\x00+1\x00SCGI\x001\x00,", 400, `CONTENT_LENGTH "+1" is not a number`},
		{"a body over the limit", "25:CONTENT_LENGTH\x0011\x00SCGI\x001\x00,", 413, "a body of 11 bytes is over the limit of 10"},
		{"no SCGI", "17:CONTENT_LENGTH\x000\x00,", 400, "no SCGI variable (the protocol requires SCGI=1)"},
		{"SCGI 2", "24:CONTENT_LENGTH\x000\x00SCGI\x002\x00,", 400, `SCGI is "2"; this daemon speaks SCGI 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scgi.ReadRequest(bufio.NewReader(strings.NewReader(tt.raw)), small)
			var se *scgi.Error
			require.True(t, errors.As(err, &se), "want an *scgi.Error, got %v", err)
			require.Equal(t, tt.wantCode, se.Code)
			require.Contains(t, se.Reason, tt.wantErr)
			require.Equal(t, tt.wantCode, gateway.StatusOf(err))
		})
	}
}

func TestReadRequestShortBody(t *testing.T) {
	_, body, err := read(t, "24:CONTENT_LENGTH\x005\x00SCGI\x001\x00,abc", scgi.DefaultLimits)
	require.Equal(t, "abc", body)
	require.ErrorContains(t, err, "connection closed with 2 bytes of the body still to come")
	require.Equal(t, 400, gateway.StatusOf(err))
}

// TestRoundTrip checks what the package is for: a request read by package http1 crosses the hop and becomes,
// in the daemon, the environ the app would have seen in the front end's process, with the same body.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		// wantDiff lists the variables that differ from the in-process environ, with the daemon's values.
		wantDiff map[string]string
	}{
		{name: "GET", raw: "GET /hello HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"},
		{
			name: "a query, a decoded path, repeated and odd headers",
			raw: "GET /caf%C3%A9/a%2Fb?x=1&y=%20 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Test: one\r\nx-test: two\r\n" +
				"Accept: */*\r\nX-Empty:\r\nX-Bytes: \xff<&>\r\n\r\n",
		},
		{
			name: "POST with a Content-Length",
			raw:  "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
		},
		{
			name: "HTTP/1.0 without Host",
			raw:  "HEAD /hello HTTP/1.0\r\n\r\n",
		},
		{
			name:     "a chunked body: the daemon sees the length the front end counted",
			raw:      "PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
			wantDiff: map[string]string{"CONTENT_LENGTH": "5"},
		},
	}
	srv := gateway.Server{Name: "127.0.0.1", Port: "8080", MultiThread: true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hreq, err := http1.ReadRequest(bufio.NewReader(strings.NewReader(tt.raw)), http1.DefaultLimits)
			require.NoError(t, err)
			front, err := gateway.NewEnviron(hreq, srv)
			require.NoError(t, err)
			want := maps.Clone(front.Map())
			maps.Copy(want, tt.wantDiff)
			wantBody, err := io.ReadAll(front.Input)
			require.NoError(t, err)
			front.Input = bytes.NewReader(wantBody)

			var wire bytes.Buffer
			require.NoError(t, scgi.WriteRequest(&wire, front))
			req, body, err := read(t, wire.String(), scgi.DefaultLimits)
			require.NoError(t, err)
			got := req.Environ(srv).Map()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("environ across the hop (-in process +daemon):\n%s", diff)
			}
			require.Equal(t, string(wantBody), body)
		})
	}
}

func FuzzReadRequest(f *testing.F) {
	f.Add(specExample)
	f.Add("24:CONTENT_LENGTH\x000\x00SCGI\x001\x00,")
	f.Add("31:CONTENT_LENGTH\x000\x00SCGI\x001\x00SCGI\x001\x00,")
	f.Add("35:CONTENT_LENGTH\x003\x00SCGI\x001\x00A\x00\x00B\x00b\x00,abc")
	f.Fuzz(func(t *testing.T, raw string) {
		lim := scgi.Limits{MaxHeader: 1 << 10, MaxBody: 1 << 10}
		req, err := scgi.ReadRequest(bufio.NewReader(strings.NewReader(raw)), lim)
		if err != nil {
			var se *scgi.Error
			if !errors.Is(err, io.EOF) && !errors.As(err, &se) {
				t.Fatalf("error %v is neither io.EOF nor an *scgi.Error", err)
			}
			return
		}
		if _, ok := req.Vars["SCGI"]; ok {
			t.Fatal("SCGI among the variables")
		}
		body, err := io.ReadAll(req.Body)
		if err == nil && int64(len(body)) != req.ContentLength {
			t.Fatalf("body of %d bytes for CONTENT_LENGTH %d", len(body), req.ContentLength)
		}
		if err != nil {
			return
		}
		// What was read, written again, reads the same.
		var wire bytes.Buffer
		if err := scgi.WriteRequest(&wire, &gateway.Environ{Vars: req.Vars, Input: bytes.NewReader(body)}); err != nil {
			t.Fatalf("writing back %q: %v", req.Vars, err)
		}
		again, err := scgi.ReadRequest(bufio.NewReader(&wire), lim)
		if err != nil {
			t.Fatalf("reading back %q: %v", wire.String(), err)
		}
		if !maps.Equal(req.Vars, again.Vars) {
			t.Fatalf("variables %q read back as %q", req.Vars, again.Vars)
		}
	})
}
