package spec

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-cmp/cmp"

	"course/harness"
)

// DialTimeout bounds how long T.Dial waits for the server to accept a connection.
const DialTimeout = 3 * time.Second

// T is what a Check uses to drive the server and report what it finds. Fatalf, like FailNow in package
// testing, must be called from the goroutine running the Check (or a T.Run step), not from goroutines it
// starts; the other methods may be called from any goroutine.
type T struct {
	rec    *record
	prefix string // "step: " inside T.Run
	path   string // the sub-case: "step", or "outer/inner" inside nested T.Run
	srv    *harness.Server
	seed   int64
	source string
	step   *[]*harness.Conn // inside T.Run: the connections the step dialled, closed when it ends
}

// record is the state that a check and its steps share.
type record struct {
	mu       sync.Mutex
	over     bool // the check returned or was abandoned: what it does from then on is ignored
	failed   bool
	messages []string
	logs     []string
	notes    []string
	view     Details  // the exchange in view, set by Expect
	details  Details  // the exchange that was in view at the first failure
	failedIn string   // the sub-case (T.path) of the first failure, "" outside any
	spec     *Spec    // the spec being checked, whose Cases name the sub-cases
	unknown  []string // names given to T.Run that the spec's Cases lack
	conns    []*harness.Conn
	quiet    []*harness.Conn // closed at the end like conns, without a transcript in the report
}

// Addr returns the address of the server under test: "127.0.0.1:41234".
func (t *T) Addr() string { return t.srv.Addr() }

// Server returns the running server, to read its output or check that it is still alive.
func (t *T) Server() *harness.Server { return t.srv }

// Seed returns the seed for random bytes: the same seed sends the same bytes.
func (t *T) Seed() int64 { return t.seed }

// Source returns the folder of the Go package under test, or "" when the grader runs a command (-cmd) and
// has no code to read.
func (t *T) Source() string { return t.source }

// Dial connects to the server. The connection is tracked: its transcript goes in the report, and it is closed
// when the check ends. A failure to connect is fatal.
func (t *T) Dial() *harness.Conn {
	t.stopIfOver()
	c, err := harness.Dial(t.Addr(), DialTimeout)
	if err != nil {
		t.Fatalf("cannot connect to %s: %v", t.Addr(), err)
	}
	return t.Track(c)
}

// DialSmallBuffer connects like Dial with a receive buffer of rcvbuf bytes, to play a slow reader.
func (t *T) DialSmallBuffer(rcvbuf int) *harness.Conn {
	t.stopIfOver()
	c, err := harness.DialSmallBuffer(t.Addr(), rcvbuf, DialTimeout)
	if err != nil {
		t.Fatalf("cannot connect to %s: %v", t.Addr(), err)
	}
	return t.Track(c)
}

// DialQuiet connects like Dial, for one of a crowd of connections (a thousand idle ones, say): it is
// closed when the check ends, and its transcript is left out of the report. A failure is returned, not
// fatal, so that a check can say how many connections it got.
func (t *T) DialQuiet() (*harness.Conn, error) {
	t.stopIfOver()
	c, err := harness.Dial(t.Addr(), DialTimeout)
	if err != nil {
		return nil, err
	}
	return t.keep(c, &t.rec.quiet), nil
}

// Track adds c to the connections of the check, which are shown in the report and closed when the check
// (or the T.Run step) ends.
func (t *T) Track(c *harness.Conn) *harness.Conn { return t.keep(c, &t.rec.conns) }

// keep adds c to list (the check's connections, shown or quiet) and to the step's, to be closed when they
// end; a check already over closes it at once.
func (t *T) keep(c *harness.Conn, list *[]*harness.Conn) *harness.Conn {
	r := t.rec
	r.mu.Lock()
	over := r.over
	if !over {
		*list = append(*list, c)
		if t.step != nil {
			*t.step = append(*t.step, c)
		}
	}
	r.mu.Unlock()
	if over {
		c.Close()
	}
	return c
}

// Errorf records a failure and lets the check go on. Network errors among args are replaced by a
// sentence that says what happened and what to look at (harness.DescribeNetError).
func (t *T) Errorf(format string, args ...any) {
	t.fail(t.prefix + fmt.Sprintf(format, describe(args)...))
}

// Fatalf records a failure and ends the check (or the T.Run step it is called in).
func (t *T) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	runtime.Goexit()
}

// Logf records a line shown with -v and under a failure.
func (t *T) Logf(format string, args ...any) {
	t.add(&t.rec.logs, t.prefix+fmt.Sprintf(format, describe(args)...))
}

// Note records a line shown under the spec whether it passes or fails: a measurement worth knowing.
func (t *T) Note(s string) {
	t.add(&t.rec.notes, s)
}

// Failed reports whether the check has failed so far.
func (t *T) Failed() bool {
	t.rec.mu.Lock()
	defer t.rec.mu.Unlock()
	return t.rec.failed
}

// Expect puts an exchange in view: the bytes sent, the bytes received, and what was expected. If the check
// then fails, the report shows the exchange that was in view at its first failure.
func (t *T) Expect(sent, got, want string) {
	r := t.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.over {
		r.view = Details{Sent: sent, Got: got, Expected: want}
	}
}

// Diff compares want and got with go-cmp. If they differ it records the failure message what, such as "the
// body is not the one sent", with the diff (-want +got), and returns false.
func (t *T) Diff(what string, want, got any) bool {
	d := cmp.Diff(want, got)
	if d == "" {
		return true
	}
	t.failDiff(t.prefix+what, d)
	return false
}

// Run runs f as a named step of the check, in a goroutine of its own so that a Fatalf in f ends only the
// step. Messages from the step start with its name. The connections the step dialled are closed when it
// ends: a server that serves one connection at a time would otherwise wait on them. Run reports whether
// the step passed.
func (t *T) Run(name string, f func(t *T)) bool {
	t.stopIfOver()
	var conns []*harness.Conn
	path := name
	if t.path != "" {
		path = t.path + "/" + name
	}
	if sp := t.rec.spec; sp != nil && !sp.knows(path) {
		t.rec.mu.Lock()
		t.rec.unknown = append(t.rec.unknown, path)
		t.rec.mu.Unlock()
	}
	sub := &T{rec: t.rec, prefix: t.prefix + name + ": ", path: path, srv: t.srv, seed: t.seed, source: t.source, step: &conns}
	before := t.count()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sub.recoverPanic()
		f(sub)
	}()
	<-done
	t.rec.mu.Lock()
	closing := conns
	conns = nil
	t.rec.mu.Unlock()
	for _, c := range closing {
		c.Close()
	}
	t.stopIfOver()
	return t.count() == before
}

// count returns the number of failure messages so far.
func (t *T) count() int {
	t.rec.mu.Lock()
	defer t.rec.mu.Unlock()
	return len(t.rec.messages)
}

// fail records a failure message.
func (t *T) fail(msg string) { t.failDiff(msg, "") }

// failDiff records a failure message and, if it is the first, the exchange in view, the diff and the
// sub-case it happened in.
func (t *T) failDiff(msg, diff string) {
	r := t.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.over {
		return
	}
	switch {
	case !r.failed:
		r.failedIn = t.path
		r.details = r.view
		r.details.Diff = diff
		if diff != "" {
			msg += " (-want +got below)"
		}
	case diff != "":
		msg += " (-want +got):\n" + diff
	}
	r.failed = true
	r.messages = append(r.messages, msg)
}

func (t *T) add(to *[]string, s string) {
	t.rec.mu.Lock()
	defer t.rec.mu.Unlock()
	if !t.rec.over {
		*to = append(*to, s)
	}
}

// stopIfOver ends the calling goroutine if the check was abandoned, so that a check that outlived its time
// limit does not go on dialling the next spec's server.
func (t *T) stopIfOver() {
	t.rec.mu.Lock()
	over := t.rec.over
	t.rec.mu.Unlock()
	if over {
		runtime.Goexit()
	}
}

// recoverPanic turns a panic in a check into a failure: a bug in a spec must not end the whole run.
func (t *T) recoverPanic() {
	if p := recover(); p != nil {
		t.fail(fmt.Sprintf("%sinternal error in the grader (please report it): %v", t.prefix, p))
	}
}

// end marks the check over (with msg as a failure, if not empty) and closes its connections, which unblocks
// a check stuck reading from them. It returns the transcripts of the connections.
func (r *record) end(msg string) []string {
	r.mu.Lock()
	if !r.over && msg != "" {
		if !r.failed {
			r.details = r.view
		}
		r.failed = true
		r.messages = append(r.messages, msg)
	}
	r.over = true
	conns, quiet := r.conns, r.quiet
	r.mu.Unlock()
	for _, c := range quiet {
		c.Close()
	}
	ts := make([]string, 0, len(conns))
	for _, c := range conns {
		c.Close()
		ts = append(ts, c.Transcript())
	}
	return ts
}

// describe returns args with every network error, and every invalid response, replaced by a sentence for
// the learner.
func describe(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		var pe *harness.ParseError
		if err, ok := a.(error); ok && (isNetError(err) || errors.As(err, &pe)) {
			a = harness.DescribeNetError(err)
		}
		out[i] = a
	}
	return out
}

// isNetError reports whether err comes from the network: a reset, a refused connection, a timeout, an
// unexpected end of stream.
func isNetError(err error) bool {
	var ne net.Error
	var errno syscall.Errno
	return errors.As(err, &ne) || errors.As(err, &errno) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}
