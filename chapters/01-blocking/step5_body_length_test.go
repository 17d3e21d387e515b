package main

import (
	"fmt"
	"testing"
	"time"

	"course/chapters/gateway"
)

// Step 5: the body's length. README: "Step 5: the body's length". The tests decide with the limits of small:
// a body of at most 16 bytes.

func TestStep5BodyLength(t *testing.T) {
	tests := []struct {
		rule   string
		minor  int // HTTP/1.minor
		header []gateway.Header
		want   int64 // the length, when the framing is accepted
		code   int   // the status of the refusal, when it is refused
	}{
		{"neither Content-Length nor Transfer-Encoding: no body (RFC 9112 section 6.3, rule 7)", 1, fields("Host", "x"), 0, 0},
		{"Content-Length: the body's length in bytes (section 6.2)", 1, fields("Content-Length", "5"), 5, 0},
		{"Content-Length: 0", 1, fields("Content-Length", "0"), 0, 0},
		{"a Content-Length of lim.MaxBody is accepted", 1, fields("Content-Length", "16"), 16, 0},
		{"a Content-Length over lim.MaxBody: 413 (RFC 9110 section 15.5.14)", 1, fields("Content-Length", "17"), 0, 413},
		{"the same length in two fields is one length (RFC 9110 section 8.6)", 1, fields("Content-Length", "5", "Content-Length", "5"), 5, 0},
		{"the same length twice in a list is one length (section 6.3, rule 5)", 1, fields("Content-Length", "5, 5"), 5, 0},
		{"two different lengths: 400 (section 6.3, rule 5)", 1, fields("Content-Length", "5", "Content-Length", "6"), 0, 400},
		{"two different lengths in a list: 400 (section 6.3, rule 5)", 1, fields("Content-Length", "5, 6"), 0, 400},
		{"a sign, +5: 400 (RFC 9110 section 8.6: digits only)", 1, fields("Content-Length", "+5"), 0, 400},
		{"a negative length: 400 (RFC 9110 section 8.6)", 1, fields("Content-Length", "-1"), 0, 400},
		{"not a number: 400 (section 6.3, rule 5)", 1, fields("Content-Length", "five"), 0, 400},
		{"an empty Content-Length: 400 (section 6.3, rule 5)", 1, fields("Content-Length", ""), 0, 400},
		{"a length too long for any body, 20 digits: 400", 1, fields("Content-Length", "99999999999999999999"), 0, 400},
		{"chunked: -1, the body is read chunk by chunk (section 6.3, rule 4)", 1, fields("Transfer-Encoding", "chunked"), -1, 0},
		{"codings are case-insensitive: Chunked (section 7)", 1, fields("Transfer-Encoding", "Chunked"), -1, 0},
		{"a coding the server does not know, before the final chunked: 501 (section 6.1)", 1, fields("Transfer-Encoding", "gzip, chunked"), 0, 501},
		{"codings listed over two fields: gzip, then chunked: 501 (section 6.1)", 1, fields("Transfer-Encoding", "gzip", "Transfer-Encoding", "chunked"), 0, 501},
		{"chunked not the final coding: 400, the body's end cannot be found (section 6.3, rule 4)", 1, fields("Transfer-Encoding", "chunked, gzip"), 0, 400},
		{"no chunked at all: 400 (section 6.3, rule 4)", 1, fields("Transfer-Encoding", "gzip"), 0, 400},
		{"chunked twice: 400 (section 6.1)", 1, fields("Transfer-Encoding", "chunked, chunked"), 0, 400},
		{"both Transfer-Encoding and Content-Length: 400, request smuggling (sections 6.1 and 6.3, rule 3)", 1, fields("Content-Length", "5", "Transfer-Encoding", "chunked"), 0, 400},
		{"Transfer-Encoding in HTTP/1.0: 400, the framing is faulty (section 6.1)", 0, fields("Transfer-Encoding", "chunked"), 0, 400},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			req := &gateway.Request{Method: "POST", Target: "/", Proto: fmt.Sprintf("HTTP/1.%d", tt.minor), Major: 1, Minor: tt.minor, Header: tt.header}
			var n int64
			var err error
			if !within(t, 2*time.Second, "bodyLength", func() { n, err = bodyLength(req, small) }) {
				return
			}
			call := fmt.Sprintf("bodyLength of an %s request with the fields %v", req.Proto, tt.header)
			if tt.code != 0 {
				wantRefusal(t, call, err, tt.code)
				return
			}
			if err != nil {
				t.Fatalf("%s: %v; want %d", call, err, tt.want)
			}
			if n != tt.want {
				t.Errorf("%s = %d; want %d", call, n, tt.want)
			}
		})
	}
}
