package main

// The step tests check each step of the chapter on its own, before the grader judges the whole server: one
// file per step, one table of cases per test, each case named for the rule it checks and where the rule comes
// from. Run them with make, from the repository's root:
//
//	make check CHAPTER=1 STEP=3   # the tests of step 3
//	make check CHAPTER=1          # every step in order, up to the first that fails
//
// or with go test -run 'TestStep3' ./chapters/01-blocking (add -v to see every case).

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"course/chapters/http1"
	"course/chapters/steptest"
)

// small are the limits the tests of steps 3 to 7 read with, small enough to keep the cases short.
var small = http1.Limits{MaxLine: 32, MaxHeaders: 4, MaxHeaderBytes: 64, MaxBody: 16}

// within calls f and waits at most d for it to return, and fails the test if it does not, or panics.
func within(t *testing.T, d time.Duration, what string, f func()) bool {
	t.Helper()
	return steptest.WithinHint(t, d, what, "does it wait for bytes that never come, or loop?", f)
}

// wantRefusal checks that err refuses a request with status code: an *http1.Error with that Code.
func wantRefusal(t *testing.T, what string, err error, code int) {
	t.Helper()
	var he *http1.Error
	switch {
	case err == nil:
		t.Errorf("%s: no error; want a refusal with status %d", what, code)
	case !errors.As(err, &he):
		t.Errorf("%s: error %q (a %T); want an *http1.Error with Code %d: a refusal carries the status to answer", what, err, err, code)
	case he.Code != code:
		t.Errorf("%s: refused with %d (%q); want %d", what, he.Code, he.Reason, code)
	}
}

// endlessLimit is how much an endless client sends before it gives up and closes the connection.
const endlessLimit = 1 << 20

// endless is a client that sends prefix, then the letter a, without end (up to endlessLimit bytes, then it
// closes the connection): a line that never ends. It counts what was read from it.
type endless struct {
	prefix string
	read   int
}

func (e *endless) Read(p []byte) (int, error) {
	if e.read >= endlessLimit {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && e.read < endlessLimit {
		if e.read < len(e.prefix) {
			p[n] = e.prefix[e.read]
		} else {
			p[n] = 'a'
		}
		n++
		e.read++
	}
	return n, nil
}

// show quotes s for a failure message, shortened when it is long.
func show(s string) string {
	if len(s) > 80 {
		return fmt.Sprintf("%q... (%d bytes)", s[:80], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// rest returns what is left unread in r, at most 1 KiB of it.
func rest(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 1<<10))
	return string(b)
}

// lines joins lines with CRLF, and ends the last one with it too.
func lines(ls ...string) string {
	return strings.Join(ls, "\r\n") + "\r\n"
}

// wantBody reads body, which call returned on the connection br, to its end, and checks that it yields want
// and then io.EOF, leaving next unread in br; or, when code is not 0, that it is refused with that status.
// why says where a body ends, for the message when it does not.
func wantBody(t *testing.T, call string, br *bufio.Reader, body func() io.Reader, want string, code int, next, why string) {
	t.Helper()
	var got []byte
	var err error
	if !within(t, 2*time.Second, "reading the body from "+call, func() { got, err = io.ReadAll(body()) }) {
		return
	}
	if code != 0 {
		wantRefusal(t, call, err, code)
		return
	}
	if err != nil || string(got) != want {
		t.Fatalf("%s gave %s, %v; want %s, then io.EOF", call, show(string(got)), err, show(want))
	}
	if r := rest(br); r != next {
		t.Errorf("%s left %s unread; want %s: %s", call, show(r), show(next), why)
	}
}
