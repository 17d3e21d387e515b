package specs

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"course/grader/spec"
	"course/harness"
)

// Waits of a single exchange. They are generous so that a loaded 2-core machine does not fail a correct
// server; a check that needs a tighter bound measures it itself.
const (
	answerWait = 3 * time.Second // for a response to arrive
	// closeWait is for the server to close a connection it said it would close, which it does at once. It
	// stays well below the chapters' 1 s idle timeout, or a server that ignores Connection: close would still
	// close in time, at its idle timeout.
	closeWait = 600 * time.Millisecond
	quietWait = 300 * time.Millisecond
)

// hostHeader is the Host line of the requests the grader sends.
const hostHeader = "Host: 127.0.0.1\r\n"

// get returns a GET request for target with the Host header and the extra header lines given.
func get(target string, headers ...string) string {
	return request("GET", target, "", headers...)
}

// request returns "METHOD target HTTP/1.1", the Host header, the header lines given and body.
func request(method, target, body string, headers ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\n" + hostHeader)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n" + body)
	return b.String()
}

// firstLine names a request by its first line, for messages: "GET /hello HTTP/1.1".
func firstLine(req string) string {
	line, _, _ := strings.Cut(req, "\r\n")
	if len(line) > 60 {
		line = line[:50] + fmt.Sprintf("... (%d bytes)", len(line))
	}
	return strings.Join(spec.Escape(line, 80), "")
}

// send sends req on c and puts it in view; a failure is fatal.
func send(t *spec.T, c *harness.Conn, req, want string) {
	t.Expect(req, "", want)
	if err := c.SendString(req); err != nil {
		t.Fatalf("sending %s: %v", firstLine(req), err)
	}
}

// read reads the response to req (already sent on c) and puts the exchange in view. A response that does
// not arrive in time or is not valid HTTP is fatal.
func read(t *spec.T, c *harness.Conn, req, want string) *harness.Response {
	head := strings.HasPrefix(req, "HEAD ")
	r, err := c.ReadResponse(answerWait, head)
	if err != nil {
		got := c.Buffered()
		var re *harness.ReadError
		if errors.As(err, &re) {
			got = re.Got
		}
		t.Expect(req, string(got), want)
		t.Fatalf("%s: %v", firstLine(req), err)
	}
	t.Expect(req, string(r.Raw), want)
	return r
}

// roundTrip sends req on c and reads its response. want says what a correct response is, for the report.
func roundTrip(t *spec.T, c *harness.Conn, req, want string) *harness.Response {
	send(t, c, req, want)
	return read(t, c, req, want)
}

// status returns "404 Not Found" for r.
func status(r *harness.Response) string {
	if r.Reason == "" {
		return fmt.Sprint(r.Status)
	}
	return fmt.Sprintf("%d %s", r.Status, r.Reason)
}

// wantStatus fails the check, fatally, unless r has status code.
func wantStatus(t *spec.T, r *harness.Response, req string, code int) {
	if r.Status != code {
		t.Fatalf("%s: got %s, want %d %s", firstLine(req), status(r), code, harness.Reason(code))
	}
}

// wantClientError fails the check, fatally, unless r has a 4xx status.
func wantClientError(t *spec.T, r *harness.Response, req string) {
	if r.Status < 400 || r.Status > 499 {
		t.Fatalf("%s: got %s, want a 4xx status such as 400 Bad Request", firstLine(req), status(r))
	}
}

// wantBody reports a body that differs from body.
func wantBody(t *spec.T, r *harness.Response, req, body string) bool {
	return t.Diff(firstLine(req)+": unexpected body", body, string(r.Body))
}

// wantHeader reports a header field that is missing or has another value.
func wantHeader(t *spec.T, r *harness.Response, req, name, value string) {
	switch vs := r.Values(name); {
	case len(vs) == 0:
		t.Errorf("%s: the response has no %s header, want %s: %s", firstLine(req), name, name, value)
	case len(vs) > 1:
		t.Errorf("%s: the response has %d %s headers %q, want one: %s", firstLine(req), len(vs), name, vs, value)
	case vs[0] != value:
		t.Errorf("%s: %s is %q, want %q", firstLine(req), name, vs[0], value)
	}
}

// wantKeptOpen reports a response that closes the connection when it should stay open.
func wantKeptOpen(t *spec.T, r *harness.Response, req string) {
	if r.HasToken("Connection", "close") {
		t.Errorf("%s: the response says Connection: close, but an HTTP/1.1 connection stays open unless the client or the server has a reason to close it", firstLine(req))
	}
}

// wantClose fails the check unless r says "Connection: close" and the server then closes c without sending
// anything more.
func wantClose(t *spec.T, c *harness.Conn, r *harness.Response, req string) {
	if !r.HasToken("Connection", "close") {
		t.Errorf("%s: the response does not say Connection: close, but the server must close the connection after it", firstLine(req))
	}
	if err := c.ExpectClosed(closeWait); err != nil {
		t.Errorf("%s: after the response: %v", firstLine(req), err)
	}
}

// closeSaysSo waits a little for the server to close c after r; if it does, r must have said
// "Connection: close". A server that keeps the connection open is not at fault here.
func closeSaysSo(t *spec.T, c *harness.Conn, r *harness.Response, req string) {
	err := c.ExpectClosed(time.Second)
	if err == nil && !r.HasToken("Connection", "close") {
		t.Errorf("%s: the server closed the connection after a response that did not say Connection: close; a client cannot tell that from a crash", firstLine(req))
	}
}

// wantQuiet fails the check if anything arrives on c, or c closes, within quietWait.
func wantQuiet(t *spec.T, c *harness.Conn, after string) {
	if err := c.ExpectQuiet(quietWait); err != nil {
		t.Errorf("after %s: %v", after, err)
	}
}

// environ reads the JSON object of strings that /env answers.
func environ(t *spec.T, r *harness.Response, req string) map[string]string {
	var env map[string]string
	if err := json.Unmarshal(r.Body, &env); err != nil {
		t.Fatalf("%s: the body is not the JSON object of strings that /env sends: %v", firstLine(req), err)
	}
	return env
}

// pick returns the values of keys in env, "(missing)" for those it lacks, for a diff against what is
// expected.
func pick(env map[string]string, keys []string) map[string]string {
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		v, ok := env[k]
		if !ok {
			v = "(missing)"
		}
		out[k] = v
	}
	return out
}

// keys returns the keys of m, sorted.
func keys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// aliveWait bounds the answer to the probe of Alive.
const aliveWait = 2 * time.Second

// Alive reports whether the server at addr still answers: a GET /hello on a new connection must get a
// complete response, whatever its status, within two seconds. The grader probes a server this way after a
// spec fails, to replace one that hangs rather than let every spec left wait out its time limit.
func Alive(addr string) error {
	c, err := harness.Dial(addr, aliveWait)
	if err != nil {
		return fmt.Errorf("cannot connect: %s", harness.DescribeNetError(err))
	}
	defer c.Close()
	if err := c.Send(harness.Request("GET", "/hello", "Connection: close")); err != nil {
		return fmt.Errorf("GET /hello: %s", harness.DescribeNetError(err))
	}
	_, err = c.ReadResponse(aliveWait, false)
	var re *harness.ReadError
	switch {
	case errors.As(err, &re) && re.Timeout():
		return fmt.Errorf("GET /hello got no complete answer within %v", aliveWait)
	case err != nil:
		return fmt.Errorf("GET /hello: %s", harness.DescribeNetError(err))
	}
	return nil
}

// wantStatusIn fails the check, fatally, unless r has one of the status codes.
func wantStatusIn(t *spec.T, r *harness.Response, req string, codes ...int) {
	if slices.Contains(codes, r.Status) {
		return
	}
	var want []string
	for _, c := range codes {
		want = append(want, fmt.Sprintf("%d %s", c, harness.Reason(c)))
	}
	t.Fatalf("%s: got %s, want %s", firstLine(req), status(r), strings.Join(want, " or "))
}

// wantNoMore fails the check if a byte arrives on c within quietWait. The server may close c or keep it
// open, but must not answer again: after a request that leaves bytes behind (a body refused or not read), an
// answer would be to those bytes, read as a request.
func wantNoMore(t *spec.T, c *harness.Conn, after string) {
	if err := c.ExpectQuiet(quietWait); err != nil && len(c.Buffered()) > 0 {
		t.Errorf("after %s: %v; the server answered bytes it should have skipped or refused", after, err)
	}
}

// pollEvery is how often readTimed looks at what has arrived.
const pollEvery = 10 * time.Millisecond

// timedResponse is a response and when its parts arrived, counted from when the request was sent.
type timedResponse struct {
	*harness.Response
	firstBody time.Duration // the first byte after the head
	complete  time.Duration // the last byte
}

// readTimed reads the response to req (already sent on c, at sent) like read, and notes when its first body
// byte and its last byte arrived: whether a body streams shows only in when its parts arrive.
func readTimed(t *spec.T, c *harness.Conn, req, want string, sent time.Time) timedResponse {
	deadline := sent.Add(answerWait + 2*time.Second)
	tr := timedResponse{firstBody: -1}
	for {
		r, err := c.ReadResponse(pollEvery, false)
		now := time.Since(sent)
		got := c.Buffered()
		if err == nil {
			got = r.Raw
		}
		if tr.firstBody < 0 {
			if i := strings.Index(string(got), "\r\n\r\n"); i >= 0 && len(got) > i+4 {
				tr.firstBody = now
			}
		}
		var re *harness.ReadError
		switch {
		case err == nil:
			t.Expect(req, string(r.Raw), want)
			tr.Response, tr.complete = r, now
			return tr
		case errors.As(err, &re) && re.Timeout() && time.Now().Before(deadline):
			continue
		case errors.As(err, &re) && re.Timeout():
			t.Expect(req, string(got), want)
			t.Fatalf("%s: no complete response within %v (%d bytes arrived)", firstLine(req), answerWait+2*time.Second, len(got))
		}
		t.Expect(req, string(got), want)
		t.Fatalf("%s: %v", firstLine(req), err)
	}
}
