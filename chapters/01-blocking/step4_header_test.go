package main

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
	"time"

	"course/chapters/gateway"
	"course/chapters/http1"
)

// Step 4: header fields. README: "Step 4: header fields". The tests read with the limits of small: at most
// 4 fields, of at most 64 bytes in all.

// fields builds a header list from name, value pairs.
func fields(kv ...string) []gateway.Header {
	hs := []gateway.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, gateway.Header{Name: kv[i], Value: kv[i+1]})
	}
	return hs
}

func TestStep4Header(t *testing.T) {
	const body = "BODY" // what follows the head, which must be left unread
	tests := []struct {
		rule string
		in   string
		want []gateway.Header // when the section is accepted
		code int              // the status of the refusal, when it is refused
	}{
		{"name: value, in the order sent, names as sent (RFC 9112 section 5)", lines("Host: x", "x-Mixed-CASE: 1", "") + body,
			fields("Host", "x", "x-Mixed-CASE", "1"), 0},
		{"spaces and tabs around a value are not part of it (section 5.1)", lines("X-A: \t two words \t", "") + body,
			fields("X-A", "two words"), 0},
		{"an empty value is a value (section 5.5 of RFC 9110)", lines("X-E:", "") + body,
			fields("X-E", ""), 0},
		{"a colon in a value is part of it", lines("Host: x:8080", "") + body,
			fields("Host", "x:8080"), 0},
		{"the same name twice gives two fields, in order (RFC 9110 section 5.3)", lines("X-A: 1", "X-A: 2", "") + body,
			fields("X-A", "1", "X-A", "2"), 0},
		{"no fields at all: the head ends at once", lines("") + body,
			fields(), 0},
		{"a bare LF ends a line (section 2.2)", "Host: x\n\n" + body,
			fields("Host", "x"), 0},
		{"lim.MaxHeaders fields are accepted", lines("A: 1", "B: 2", "C: 3", "D: 4", "") + body,
			fields("A", "1", "B", "2", "C", "3", "D", "4"), 0},
		{"more than lim.MaxHeaders fields: 431 (RFC 6585 section 5)", lines("A: 1", "B: 2", "C: 3", "D: 4", "E: 5", "") + body,
			nil, 431},
		{"field lines of lim.MaxHeaderBytes bytes in all, each with its CRLF, are accepted", lines("X-A: "+strings.Repeat("a", 25), "X-B: "+strings.Repeat("b", 25), "") + body,
			fields("X-A", strings.Repeat("a", 25), "X-B", strings.Repeat("b", 25)), 0},
		{"field lines of more than lim.MaxHeaderBytes bytes in all, each with its CRLF: 431 (RFC 6585 section 5)", lines("X-A: "+strings.Repeat("a", 25), "X-B: "+strings.Repeat("b", 26), "") + body,
			nil, 431},
		{"a line without a colon: 400 (section 5)", lines("Host: x", "NoColon", "") + body, nil, 400},
		{"whitespace between the name and the colon: 400 (section 5.1)", lines("Host : x", "") + body, nil, 400},
		{"a line that starts with a space, obsolete line folding: 400 (section 5.2)", lines("X-A: 1", " 2", "") + body, nil, 400},
		{"a line that starts with a tab, obsolete line folding: 400 (section 5.2)", lines("X-A: 1", "\t2", "") + body, nil, 400},
		{"a name that is not a token: 400 (RFC 9110 section 5.1)", lines("X(A): 1", "") + body, nil, 400},
		{"an empty name: 400 (RFC 9110 section 5.1)", lines(": 1", "") + body, nil, 400},
		{"a NUL in a value: 400 (RFC 9110 section 5.5)", lines("X-A: a\x00b", "") + body, nil, 400},
		{"a CR not followed by LF in a value: 400 (section 2.2)", lines("X-A: a\rb", "") + body, nil, 400},
		{"the connection ends before the empty line: 400", lines("Host: x"), nil, 400},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.in))
			var got []gateway.Header
			var err error
			if !within(t, 2*time.Second, "readHeader", func() { got, err = readHeader(br, small) }) {
				return
			}
			call := "readHeader on " + show(tt.in)
			if tt.code != 0 {
				wantRefusal(t, call, err, tt.code)
				return
			}
			if err != nil {
				t.Fatalf("%s: %v; want it accepted", call, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("%s gave the fields\n\t%v\nwant\n\t%v", call, got, tt.want)
			}
			if r := rest(br); r != body {
				t.Errorf("%s left %s unread; want %s: the head ends at its empty line, and the body comes after it", call, show(r), show(body))
			}
		})
	}
	t.Run("an endless header line: 431 once past lim.MaxHeaderBytes, without reading all of it", func(t *testing.T) {
		lim := http1.DefaultLimits // 8 KiB of field lines
		client := &endless{prefix: "Host: x\r\nX-Endless: "}
		var err error
		if !within(t, 5*time.Second, "readHeader", func() { _, err = readHeader(bufio.NewReader(client), lim) }) {
			return
		}
		wantRefusal(t, "readHeader on an endless header line", err, 431)
		if bound := lim.MaxHeaderBytes + 2*4096; client.read > bound {
			t.Errorf("readHeader read %d bytes of an endless line before it stopped; want at most about lim.MaxHeaderBytes (%d) plus a buffer", client.read, lim.MaxHeaderBytes)
		}
	})
}

func TestStep4Host(t *testing.T) {
	tests := []struct {
		rule   string
		minor  int
		header []gateway.Header
		code   int // 0 when accepted
	}{
		{"HTTP/1.1 with one Host: accepted (RFC 9112 section 3.2)", 1, fields("Host", "x"), 0},
		{"a Host field in any case counts, host: x (RFC 9110 section 5.1)", 1, fields("host", "x"), 0},
		{"an empty Host is a Host (section 3.2)", 1, fields("Host", ""), 0},
		{"HTTP/1.1 without Host: 400 (section 3.2)", 1, fields("X-A", "1"), 400},
		{"HTTP/1.1 with two Host fields: 400 (section 3.2)", 1, fields("Host", "a", "HOST", "b"), 400},
		{"HTTP/1.0 without Host: accepted (section 3.2: a MUST of HTTP/1.1)", 0, nil, 0},
		{"HTTP/1.0 with two Host fields: 400 (section 3.2)", 0, fields("Host", "a", "Host", "b"), 400},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			req := &gateway.Request{Method: "GET", Target: "/", Proto: fmt.Sprintf("HTTP/1.%d", tt.minor), Major: 1, Minor: tt.minor, Header: tt.header}
			var err error
			if !within(t, 2*time.Second, "checkHost", func() { err = checkHost(req) }) {
				return
			}
			call := fmt.Sprintf("checkHost on an %s request with the fields %v", req.Proto, tt.header)
			if tt.code != 0 {
				wantRefusal(t, call, err, tt.code)
			} else if err != nil {
				t.Errorf("%s: %v; want it accepted", call, err)
			}
		})
	}
}
