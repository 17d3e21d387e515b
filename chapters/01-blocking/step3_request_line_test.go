package main

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"course/chapters/gateway"
	"course/chapters/http1"
)

// Step 3: the request line. README: "Step 3: the request line". The tests read with the limits of small:
// a request line of at most 32 bytes.

func TestStep3RequestLine(t *testing.T) {
	const next = "Host: x\r\n\r\n" // what follows the request line, which must be left unread
	tests := []struct {
		rule string
		in   string
		want gateway.Request // Method, Target, Proto, Major and Minor, when the line is accepted
		code int             // the status of the refusal, when it is refused
	}{
		{"method SP target SP version (RFC 9112 section 3)", "GET /hello HTTP/1.1\r\n" + next,
			gateway.Request{Method: "GET", Target: "/hello", Proto: "HTTP/1.1", Major: 1, Minor: 1}, 0},
		{"the target is kept as sent, query and escapes too (section 3.2)", "POST /a%20b?x=1 HTTP/1.1\r\n" + next,
			gateway.Request{Method: "POST", Target: "/a%20b?x=1", Proto: "HTTP/1.1", Major: 1, Minor: 1}, 0},
		{"absolute-form target (section 3.2.2)", "GET http://x/a HTTP/1.1\r\n" + next,
			gateway.Request{Method: "GET", Target: "http://x/a", Proto: "HTTP/1.1", Major: 1, Minor: 1}, 0},
		{"HTTP/1.0 (section 2.3)", "GET / HTTP/1.0\r\n" + next,
			gateway.Request{Method: "GET", Target: "/", Proto: "HTTP/1.0", Major: 1, Minor: 0}, 0},
		{"a bare LF ends the line (section 2.2)", "GET / HTTP/1.1\n" + next,
			gateway.Request{Method: "GET", Target: "/", Proto: "HTTP/1.1", Major: 1, Minor: 1}, 0},
		{"an empty line before the request line is skipped (section 2.2)", "\r\nGET / HTTP/1.1\r\n" + next,
			gateway.Request{Method: "GET", Target: "/", Proto: "HTTP/1.1", Major: 1, Minor: 1}, 0},
		{"a line of lim.MaxLine bytes, CRLF not counted, is accepted", "GET /" + strings.Repeat("a", 18) + " HTTP/1.1\r\n" + next,
			gateway.Request{Method: "GET", Target: "/" + strings.Repeat("a", 18), Proto: "HTTP/1.1", Major: 1, Minor: 1}, 0},
		{"a line over lim.MaxLine bytes: 414 (RFC 9110 section 15.5.15)", "GET /" + strings.Repeat("a", 19) + " HTTP/1.1\r\n" + next,
			gateway.Request{}, 414},
		{"no version: 400", "GET /\r\n" + next, gateway.Request{}, 400},
		{"two spaces in a row: 400 (section 3: one SP)", "GET  / HTTP/1.1\r\n" + next, gateway.Request{}, 400},
		{"a space after the version: 400 (section 3)", "GET / HTTP/1.1 \r\n" + next, gateway.Request{}, 400},
		{"the version is case-sensitive, http/1.1: 400 (section 2.3)", "GET / http/1.1\r\n" + next, gateway.Request{}, 400},
		{"one digit each side of the dot, HTTP/1.10: 400 (section 2.3)", "GET / HTTP/1.10\r\n" + next, gateway.Request{}, 400},
		{"a major version other than 1: 505 (RFC 9110 section 15.6.6)", "GET / HTTP/2.0\r\n" + next, gateway.Request{}, 505},
		{"a method that is not a token: 400 (RFC 9110 section 9.1)", "G(T / HTTP/1.1\r\n" + next, gateway.Request{}, 400},
		{"a control character in the target: 400 (section 3.2)", "GET /\x01 HTTP/1.1\r\n" + next, gateway.Request{}, 400},
		{"the connection ends in the middle of the line: 400", "GET / HT", gateway.Request{}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.in))
			var req *gateway.Request
			var err error
			if !within(t, 2*time.Second, "readRequestLine", func() { req, err = readRequestLine(br, small) }) {
				return
			}
			call := "readRequestLine on " + show(tt.in)
			if tt.code != 0 {
				wantRefusal(t, call, err, tt.code)
				return
			}
			if err != nil {
				t.Fatalf("%s: %v; want it accepted", call, err)
			}
			if req == nil {
				t.Fatalf("%s returned no request and no error", call)
			}
			got := gateway.Request{Method: req.Method, Target: req.Target, Proto: req.Proto, Major: req.Major, Minor: req.Minor}
			if got.Method != tt.want.Method || got.Target != tt.want.Target || got.Proto != tt.want.Proto || got.Major != tt.want.Major || got.Minor != tt.want.Minor {
				t.Errorf("%s gave Method %q, Target %q, Proto %q, Major %d, Minor %d;\nwant Method %q, Target %q, Proto %q, Major %d, Minor %d", call,
					got.Method, got.Target, got.Proto, got.Major, got.Minor, tt.want.Method, tt.want.Target, tt.want.Proto, tt.want.Major, tt.want.Minor)
			}
			if r := rest(br); r != next {
				t.Errorf("%s left %s unread; want %s: the line ends at its line ending, and the header section is step 4's", call, show(r), show(next))
			}
		})
	}
}

func TestStep3RequestLineEnds(t *testing.T) {
	tests := []struct {
		rule string
		in   string
	}{
		{"the connection closes before a request starts: io.EOF, the end of a keep-alive connection", ""},
		{"the connection closes after an empty line: io.EOF", "\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			var err error
			if !within(t, 2*time.Second, "readRequestLine", func() { _, err = readRequestLine(bufio.NewReader(strings.NewReader(tt.in)), small) }) {
				return
			}
			if !errors.Is(err, io.EOF) {
				t.Errorf("readRequestLine on %s: %v; want io.EOF: no request was started, the client just closed the connection", show(tt.in), err)
			}
		})
	}
}

func TestStep3LongLines(t *testing.T) {
	lim := http1.DefaultLimits // a request line of up to 8 KiB
	t.Run("a line longer than bufio.Reader's 4 KiB buffer, within the limit, is read whole", func(t *testing.T) {
		target := "/" + strings.Repeat("a", 6000)
		br := bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"))
		var req *gateway.Request
		var err error
		if !within(t, 2*time.Second, "readRequestLine", func() { req, err = readRequestLine(br, lim) }) {
			return
		}
		if err != nil || req == nil {
			t.Fatalf("readRequestLine on a 6 KiB line, with lim.MaxLine 8 KiB: %v; want it accepted (bufio.ErrBufferFull means a line goes on past the buffer, not that it is too long)", err)
		}
		if req.Target != target {
			t.Errorf("got a target of %d bytes; want the %d bytes sent", len(req.Target), len(target))
		}
	})
	t.Run("an endless line gets 414 once past the limit, without reading all of it (a client can send forever)", func(t *testing.T) {
		client := &endless{prefix: "GET /"}
		var err error
		if !within(t, 5*time.Second, "readRequestLine", func() { _, err = readRequestLine(bufio.NewReader(client), lim) }) {
			return
		}
		wantRefusal(t, "readRequestLine on an endless line", err, 414)
		if bound := lim.MaxLine + 2*4096; client.read > bound {
			t.Errorf("readRequestLine read %d bytes of an endless line before it stopped; want at most about lim.MaxLine (%d) plus a buffer", client.read, lim.MaxLine)
		}
	})
}
