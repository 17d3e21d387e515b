package main

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"course/chapters/http1"
)

// Step 7: a chunked body. README: "Step 7: a chunked body". The tests read with the limits of small: a body
// of at most 16 bytes, trailer sections of at most 4 fields and 64 bytes.

func TestStep7ChunkedBody(t *testing.T) {
	const next = "GET /next HTTP/1.1\r\n" // the next request, which must be left unread
	tests := []struct {
		rule string
		in   string // the chunked body, then what follows it
		want string // the decoded body, when it is whole
		code int    // the status of the refusal, when it is not
	}{
		{"chunks of hex size, data, CRLF, up to the last chunk, 0 (RFC 9112 section 7.1)", lines("5", "hello", "6", " world", "0", "") + next, "hello world", 0},
		{"the last chunk alone: an empty body", lines("0", "") + next, "", 0},
		{"hex digits of either case: a is 10, F is 15 (section 7.1)", lines("a", "0123456789", "0", "") + next, "0123456789", 0},
		{"leading zeros are hex digits too (section 7.1)", lines("003", "abc", "0", "") + next, "abc", 0},
		{"chunk extensions after ; are ignored (section 7.1.1)", lines("5;name=value", "hello", "0;last", "") + next, "hello", 0},
		{"spaces and tabs around the ; of an extension are allowed (BWS, section 7.1.1)", lines("5 ;name=value", "hello", "0\t; last", "") + next, "hello", 0},
		{"trailer fields after the last chunk are read and dropped (section 7.1.2)", lines("5", "hello", "0", "X-Checksum: 42", "X-Other: 1", "") + next, "hello", 0},
		{"chunk data is data, CR and LF too: only the size ends it", lines("4", "a\r\nb", "0", "") + next, "a\r\nb", 0},
		{"bare LFs end the lines (section 2.2)", "5\nhello\n0\n\n" + next, "hello", 0},
		{"a body of lim.MaxBody bytes is accepted", lines("8", "12345678", "8", "abcdefgh", "0", "") + next, "12345678abcdefgh", 0},
		{"a body over lim.MaxBody bytes: 413 (RFC 9110 section 15.5.14)", lines("8", "12345678", "9", "abcdefghi", "0", "") + next, "", 413},
		{"a size that is not hex: 400 (section 7.1)", lines("zz", "ab", "0", ""), "", 400},
		{"a size with 0x: 400, hex digits only (section 7.1)", lines("0x2", "ab", "0", ""), "", 400},
		{"a size with a sign: 400, hex digits only (section 7.1)", lines("+2", "ab", "0", ""), "", 400},
		{"a size line with no size: 400 (section 7.1)", lines("", "ab", "0", ""), "", 400},
		{"white space after a size with no extension: 400 (section 7.1: BWS only before a ;)", lines("2 ", "ab", "0", ""), "", 400},
		{"a size of more than 15 hex digits: 400", lines("0000000000000002", "ab", "0", ""), "", 400},
		{"data longer than its size, not followed by CRLF: 400 (section 7.1)", lines("2", "abc", "0", ""), "", 400},
		{"a CR after the data not followed by LF: 400 (section 7.1)", "2\r\nab\rX0\r\n\r\n", "", 400},
		{"the connection ends in a chunk: 400", "5\r\nab", "", 400},
		{"the connection ends before the last chunk: 400", lines("2", "ab"), "", 400},
		{"the connection ends in the trailer section: 400", lines("0", "X-T: 1"), "", 400},
		{"a trailer line that is not a field: 400 (section 7.1.2, RFC 9112 section 5)", lines("0", "Not a field", ""), "", 400},
		{"more trailer fields than lim.MaxHeaders: 431 (section 7.1.2)", lines("0", "A: 1", "B: 2", "C: 3", "D: 4", "E: 5", ""), "", 431},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.in))
			wantBody(t, "chunkedBody on "+show(tt.in), br, func() io.Reader { return chunkedBody(br, small) }, tt.want, tt.code, next,
				"the body ends with the empty line after the trailers, and the next request follows")
		})
	}
	t.Run("the 413 comes before the data of the chunk that goes over lim.MaxBody is read", func(t *testing.T) {
		in := lines("ff", strings.Repeat("a", 255), "0", "")
		br := bufio.NewReader(strings.NewReader(in))
		var err error
		var got []byte
		if !within(t, 2*time.Second, "reading the body from chunkedBody", func() { got, err = io.ReadAll(chunkedBody(br, small)) }) {
			return
		}
		wantRefusal(t, "chunkedBody on a chunk of 255 bytes, with lim.MaxBody 16", err, 413)
		if len(got) > 0 {
			t.Errorf("chunkedBody gave %d bytes of a chunk that takes the body over the limit; want none: the size says it is too much", len(got))
		}
	})
	t.Run("an endless chunk-size line: 400 once past http1.MaxChunkLine, without reading all of it", func(t *testing.T) {
		client := &endless{prefix: "5;ext="}
		var err error
		if !within(t, 5*time.Second, "reading the body from chunkedBody", func() { _, err = io.ReadAll(chunkedBody(bufio.NewReader(client), http1.DefaultLimits)) }) {
			return
		}
		wantRefusal(t, "chunkedBody on an endless size line", err, 400)
		if bound := http1.MaxChunkLine + 2*4096; client.read > bound {
			t.Errorf("chunkedBody read %d bytes of an endless size line before it stopped; want at most about http1.MaxChunkLine (%d) plus a buffer", client.read, http1.MaxChunkLine)
		}
	})
	t.Run("a chunk's data is given once it has come: Read does not wait for the next chunk's size line", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		go io.WriteString(pw, lines("5", "hello")) // and no more, for now: the client sends its next chunk later
		got := make([]byte, 5)
		var err error
		if !within(t, 2*time.Second, "reading the first chunk from chunkedBody", func() { _, err = io.ReadFull(chunkedBody(bufio.NewReader(pr), small), got) }) {
			t.Log("the client has sent \"5\\r\\nhello\\r\\n\" and waits: check the CRLF after the data, but read the next size line only in a later Read")
			return
		}
		if err != nil || string(got) != "hello" {
			t.Errorf("reading the first chunk gave %q, %v; want \"hello\"", got, err)
		}
	})
	t.Run("after an error, every later Read gives it again", func(t *testing.T) {
		body := chunkedBody(bufio.NewReader(strings.NewReader(lines("zz", "ab", "0", ""))), small)
		var first, second error
		if !within(t, 2*time.Second, "reading the body from chunkedBody", func() {
			_, first = io.ReadAll(body)
			_, second = body.Read(make([]byte, 8))
		}) {
			return
		}
		if first == nil || !errors.Is(second, first) {
			t.Errorf("a bad size gave %v, and the next Read %v; want the same error again: the body cannot be read past it", first, second)
		}
	})
	t.Run("a reader by the rules of io.Reader, read in pieces of any size (testing/iotest)", func(t *testing.T) {
		in := lines("3", "abc", "a", "0123456789", "0", "T: 1", "")
		var err error
		if !within(t, 2*time.Second, "iotest.TestReader on chunkedBody", func() {
			err = iotest.TestReader(chunkedBody(bufio.NewReader(iotest.OneByteReader(strings.NewReader(in))), small), []byte("abc0123456789"))
		}) {
			return
		}
		if err != nil {
			t.Errorf("chunkedBody from a connection that delivers a byte at a time: %v", err)
		}
	})
}
