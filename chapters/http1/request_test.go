package http1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"course/chapters/gateway"
)

// read parses one request from raw with the default limits and a 16-byte body cap, and reads its body.
func read(t *testing.T, raw string) (*gateway.Request, string, error) {
	t.Helper()
	lim := DefaultLimits
	lim.MaxBody = 16
	br := bufio.NewReader(strings.NewReader(raw))
	req, err := ReadRequest(br, lim)
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(req.Body)
	return req, string(body), err
}

// hdr builds a header list from name, value pairs.
func hdr(kv ...string) []gateway.Header {
	var hs []gateway.Header
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, gateway.Header{Name: kv[i], Value: kv[i+1]})
	}
	return hs
}

func TestReadRequestValid(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		method string
		target string
		minor  int
		header []gateway.Header
		body   string
		cl     int64
	}{
		{"simple get", "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "/hello", 1,
			hdr("Host", "x"), "", 0},
		{"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "/", 1,
			hdr("Host", "x"), "", 0},
		{"bare LF line endings", "GET / HTTP/1.1\nHost: x\n\n", "GET", "/", 1,
			hdr("Host", "x"), "", 0},
		{"OWS trimmed, case kept", "GET / HTTP/1.1\r\nhOsT:   x \t\r\nX-A:\t1\r\n\r\n", "GET", "/", 1,
			hdr("hOsT", "x", "X-A", "1"), "", 0},
		{"empty header value", "GET / HTTP/1.1\r\nHost: x\r\nX-E:\r\n\r\n", "GET", "/", 1,
			hdr("Host", "x", "X-E", ""), "", 0},
		{"HTTP/1.0 without Host", "GET /a HTTP/1.0\r\n\r\n", "GET", "/a", 0, nil, "", 0},
		{"content-length body", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab\r\ncNEXT", "POST", "/echo", 1,
			hdr("Host", "x", "Content-Length", "5"), "ab\r\nc", 5},
		{"equal content-lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nab", "POST", "/", 1,
			hdr("Host", "x", "Content-Length", "2, 2", "Content-Length", "2"), "ab", 2},
		{"chunked with extensions and trailers", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"3;a=b\r\nabc\r\nA ; x\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", "POST", "/", 1,
			hdr("Host", "x", "Transfer-Encoding", "chunked"), "abc0123456789", -1},
		{"chunked, case-insensitive coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n", "POST", "/", 1,
			hdr("Host", "x", "Transfer-Encoding", "Chunked"), "z", -1},
		{"absolute-form target", "GET http://x/a?b HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "http://x/a?b", 1,
			hdr("Host", "x"), "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, body, err := read(t, tt.raw)
			require.NoError(t, err)
			require.Equal(t, tt.method, req.Method)
			require.Equal(t, tt.target, req.Target)
			require.Equal(t, tt.minor, req.Minor)
			if diff := cmp.Diff(tt.header, req.Header); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			require.Equal(t, tt.body, body)
			require.Equal(t, tt.cl, req.ContentLength)
		})
	}
}

func TestReadRequestRefused(t *testing.T) {
	long := strings.Repeat("a", 9000)
	many := strings.Repeat("X-A: 1\r\n", 101)
	big := strings.Repeat("X-Big: "+strings.Repeat("b", 1000)+"\r\n", 9)
	tests := []struct {
		name string
		raw  string
		code int
	}{
		{"no spaces", "GET\r\n\r\n", 400},
		{"extra space", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"bad version", "GET / HTTP/1.x\r\nHost: x\r\n\r\n", 400},
		{"lowercase version", "GET / http/1.1\r\nHost: x\r\n\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"bad method", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"control char in target", "GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"no host in 1.1", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"header without colon", "GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  2\r\n\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400},
		{"request line too long", "GET /" + long + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"too many fields", "GET / HTTP/1.1\r\nHost: x\r\n" + many + "\r\n", 431},
		{"header section too large", "GET / HTTP/1.1\r\nHost: x\r\n" + big + "\r\n", 431},
		{"one huge header line", "GET / HTTP/1.1\r\nHost: x\r\nX-A: " + long + "\r\n\r\n", 431},
		{"body over cap by length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n", 413},
		{"unknown coding, not chunked last", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
		{"chunked then gzip", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
		{"gzip then chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
		{"chunked twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
		{"te and cl", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
		{"two content-lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
		{"list of content-lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\nab", 400},
		{"negative content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
		{"plus content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na", 400},
		{"te in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"eof in head", "GET / HTTP/1.1\r\nHost: x\r\n", 400},
		{"eof in request line", "GET / HT", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := read(t, tt.raw)
			var he *Error
			require.ErrorAs(t, err, &he, "got %v", err)
			require.Equal(t, tt.code, he.Code, he.Reason)
			require.Equal(t, tt.code, gateway.StatusOf(err))
		})
	}
}

// TestChunkedBodyRefused covers errors found while the body is read, after the head was accepted.
func TestChunkedBodyRefused(t *testing.T) {
	head := "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	tests := []struct {
		name string
		body string
		code int
	}{
		{"bad size", "zz\r\nab\r\n0\r\n\r\n", 400},
		{"hex prefix", "0x2\r\nab\r\n0\r\n\r\n", 400},
		{"negative size", "-2\r\nab\r\n0\r\n\r\n", 400},
		{"data longer than size", "2\r\nabc\r\n0\r\n\r\n", 400},
		{"over the cap", "11\r\n" + strings.Repeat("a", 17) + "\r\n0\r\n\r\n", 413},
		{"over the cap in two chunks", "9\r\n123456789\r\n9\r\n123456789\r\n0\r\n\r\n", 413},
		{"eof in chunk", "5\r\nab", 400},
		{"white space after the size, no extension", "2 \r\nab\r\n0\r\n\r\n", 400},
		{"eof before last chunk", "2\r\nab\r\n", 400},
		{"bad trailer", "0\r\nBad Trailer\r\n\r\n", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := read(t, head+tt.body)
			var he *Error
			require.ErrorAs(t, err, &he, "got %v", err)
			require.Equal(t, tt.code, he.Code, he.Reason)
		})
	}
}

// TestPipelined checks that a body is read exactly, so that the next request starts at the right byte, whatever
// the sizes of the reads that deliver the bytes.
func TestPipelined(t *testing.T) {
	raw := "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
		"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n" +
		"GET /c HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, r := range []struct {
		name string
		in   io.Reader
	}{
		{"whole", strings.NewReader(raw)},
		{"byte at a time", iotest.OneByteReader(strings.NewReader(raw))},
	} {
		t.Run(r.name, func(t *testing.T) {
			br := bufio.NewReader(r.in)
			var got []string
			for {
				req, err := ReadRequest(br, DefaultLimits)
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				body, err := io.ReadAll(req.Body)
				require.NoError(t, err)
				got = append(got, req.Target+" "+string(body))
			}
			require.Equal(t, []string{"/a abc", "/b de", "/c "}, got)
		})
	}
}

func TestReadRequestEOF(t *testing.T) {
	_, err := ReadRequest(bufio.NewReader(strings.NewReader("")), DefaultLimits)
	require.ErrorIs(t, err, io.EOF)
}

// TestBodyLength checks the framing decision on its own, as the push parser uses it: the length, or -1 for
// chunked, or the status of the refusal.
func TestBodyLength(t *testing.T) {
	tests := []struct {
		name   string
		minor  int
		header []gateway.Header
		want   int64
		code   int
	}{
		{"no body", 1, nil, 0, 0},
		{"content-length", 1, hdr("Content-Length", "5"), 5, 0},
		{"content-length at the cap", 1, hdr("Content-Length", "16"), 16, 0},
		{"content-length over the cap", 1, hdr("Content-Length", "17"), 0, 413},
		{"chunked", 1, hdr("Transfer-Encoding", "chunked"), -1, 0},
		{"chunked in 1.0", 0, hdr("Transfer-Encoding", "chunked"), 0, 400},
		{"gzip: chunked not last", 1, hdr("Transfer-Encoding", "gzip"), 0, 400},
		{"gzip then chunked", 1, hdr("Transfer-Encoding", "gzip, chunked"), 0, 501},
		{"chunked then gzip, in two fields", 1, hdr("Transfer-Encoding", "chunked", "Transfer-Encoding", "gzip"), 0, 400},
		{"both", 1, hdr("Transfer-Encoding", "chunked", "Content-Length", "3"), 0, 400},
	}
	lim := DefaultLimits
	lim.MaxBody = 16
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &gateway.Request{Major: 1, Minor: tt.minor, Header: tt.header}
			n, err := BodyLength(req, lim)
			require.Equal(t, tt.code, codeOf(err), "%v", err)
			if tt.code == 0 {
				require.Equal(t, tt.want, n)
			}
		})
	}
}

// TestParseFieldEmpty checks that an empty line, which the readers never pass, is refused rather than a panic.
func TestParseFieldEmpty(t *testing.T) {
	_, err := ParseField(nil)
	require.Equal(t, 400, codeOf(err), "%v", err)
}

// codeOf returns the status of an *Error, 0 for nil, and -1 for any other error.
func codeOf(err error) int {
	var he *Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &he):
		return he.Code
	}
	return -1
}

// TestRefuse checks that a refusal is answered and that a closed, reset or timed out connection is not.
func TestRefuse(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string // the start of the answer, "" for none
	}{
		{"bad request", errorf(400, "bad method"), "HTTP/1.1 400 Bad Request\r\n"},
		{"header too large", errorf(431, "too many"), "HTTP/1.1 431 "},
		{"closed", io.EOF, ""},
		{"deadline", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), ""},
		{"reset", &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			bw := bufio.NewWriter(&out)
			sent := Refuse(bw, tt.err)
			require.NoError(t, bw.Flush())
			require.Equal(t, tt.want != "", sent)
			require.True(t, strings.HasPrefix(out.String(), tt.want), "got %q", out.String())
			if tt.want == "" {
				require.Empty(t, out.String())
			}
		})
	}
}

// TestAnswer checks the server's half of a request: 100-continue, 417, and skipping a body the app left unread.
func TestAnswer(t *testing.T) {
	app := func(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
		start("200 OK", hdr("Content-Type", "text/plain"))
		return gateway.Bytes([]byte("ok")), nil
	}
	tests := []struct {
		name      string
		raw       string
		keepAlive bool
		prefix    string
	}{
		{"continue", "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\na", true, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"},
		{"unknown expectation", "POST / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Length: 1\r\n\r\na", false, "HTTP/1.1 417 Expectation Failed\r\n"},
		{"unread body skipped", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", true, "HTTP/1.1 200 OK\r\n"},
		{"body cut short", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nabc", false, "HTTP/1.1 200 OK\r\n"},
		{"connection close", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false, "HTTP/1.1 200 OK\r\n"},
		{"bad target", "GET nopath HTTP/1.1\r\nHost: x\r\n\r\n", false, "HTTP/1.1 400 Bad Request\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.raw))
			req, err := ReadRequest(br, DefaultLimits)
			require.NoError(t, err)
			var out bytes.Buffer
			bw := bufio.NewWriter(&out)
			keep := Answer(bw, req, gateway.Server{Name: "x", Port: "1"}, app, false)
			require.NoError(t, bw.Flush())
			require.Equal(t, tt.keepAlive, keep)
			require.True(t, strings.HasPrefix(out.String(), tt.prefix), "got %q", out.String())
		})
	}
}

func FuzzReadRequest(f *testing.F) {
	f.Add("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;e\r\nabc\r\n0\r\nT: 1\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
	f.Fuzz(func(t *testing.T, raw string) {
		req, err := ReadRequest(bufio.NewReader(strings.NewReader(raw)), DefaultLimits)
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		if err == nil && req.ContentLength >= 0 && int64(len(body)) != req.ContentLength {
			t.Fatalf("body of %d bytes for Content-Length %d", len(body), req.ContentLength)
		}
	})
}
