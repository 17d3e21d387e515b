package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// Step 6: a Content-Length body. README: "Step 6: a Content-Length body".

// untouchable is a connection that must not be read: it fails the test when it is.
type untouchable struct{ t *testing.T }

func (u untouchable) Read(p []byte) (int, error) {
	u.t.Error("the body reader read the connection although the body is empty (n = 0): a read there would wait for the next request")
	return 0, io.EOF
}

func TestStep6LengthBody(t *testing.T) {
	const next = "GET /next HTTP/1.1\r\n" // the next request, which must be left unread
	tests := []struct {
		rule string
		in   string // what the client sends: the body, and what follows it
		n    int64
		want string // the body, when it is whole
		code int    // the status of the refusal, when it is not
	}{
		{"exactly n bytes, then io.EOF (RFC 9112 section 6.2)", "hello" + next, 5, "hello", 0},
		{"the bytes are data, CR and LF too: only the count ends the body", "a\r\n\r\nb" + next, 6, "a\r\n\r\nb", 0},
		{"the client closes the connection before n bytes: 400, the body is incomplete", "hel", 5, "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.in))
			call := fmt.Sprintf("lengthBody with n = %d on %s", tt.n, show(tt.in))
			wantBody(t, call, br, func() io.Reader { return lengthBody(br, tt.n) }, tt.want, tt.code, next, "what follows the body is the next request")
		})
	}
	t.Run("n = 0: io.EOF at once, without reading the connection", func(t *testing.T) {
		var got []byte
		var err error
		if !within(t, 2*time.Second, "reading the body from lengthBody", func() { got, err = io.ReadAll(lengthBody(untouchable{t}, 0)) }) {
			return
		}
		if err != nil || len(got) != 0 {
			t.Errorf("lengthBody with n = 0 gave %q, %v; want no bytes and io.EOF", got, err)
		}
	})
	t.Run("a reader by the rules of io.Reader, read in pieces of any size (testing/iotest)", func(t *testing.T) {
		body := "0123456789abcdef"
		for _, r := range []struct {
			how string
			in  io.Reader
		}{
			{"from a connection that delivers a byte at a time", iotest.OneByteReader(strings.NewReader(body + next))},
			{"from a connection that delivers it all at once", strings.NewReader(body + next)},
		} {
			var err error
			if !within(t, 2*time.Second, "iotest.TestReader on lengthBody", func() { err = iotest.TestReader(lengthBody(r.in, int64(len(body))), []byte(body)) }) {
				return
			}
			if err != nil {
				t.Errorf("lengthBody %s: %v", r.how, err)
			}
		}
	})
	t.Run("once the body is read, io.EOF again on every later Read", func(t *testing.T) {
		br := bufio.NewReader(strings.NewReader("abc" + next))
		var err error
		if !within(t, 2*time.Second, "reading the body from lengthBody", func() {
			body := lengthBody(br, 3)
			io.ReadAll(body)
			_, err = body.Read(make([]byte, 8))
		}) {
			return
		}
		if !errors.Is(err, io.EOF) {
			t.Errorf("a Read after the end of the body gave %v; want io.EOF", err)
		}
		if r := rest(br); r != next {
			t.Errorf("after the body and one more Read, %s was left unread; want %s", show(r), show(next))
		}
	})
}
