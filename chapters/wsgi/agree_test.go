package wsgi

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"course/chapters/app"
	"course/chapters/gateway"
)

// hdr is one header field.
func hdr(name, value string) gateway.Header { return gateway.Header{Name: name, Value: value} }

// agreeCases are the requests both test applications get, in this order (/counter and /stats depend on it).
// They follow the Go app's own tests (chapters/app/app_test.go).
var agreeCases = []request{
	{method: "GET", target: "/hello"},
	{method: "HEAD", target: "/hello"},
	{method: "GET", target: "/hello?x=%zz"},
	{method: "POST", target: "/echo", body: "ping\x00pong", header: []gateway.Header{hdr("Content-Type", "application/x-test")}},
	{method: "PUT", target: "/echo", body: "data"},
	{method: "POST", target: "/echo"},
	{method: "POST", target: "/echo", body: strings.Repeat("0123456789", 20000), chunked: true},
	{method: "GET", target: "/env?a=1&b=%20&c=<&>", header: []gateway.Header{
		hdr("X-Test", "one"), hdr("x-test", "two"), hdr("X-Markup", "<a href='x'>&amp;</a>"),
		hdr("X-Utf8", "caf\xc3\xa9 \xe2\x80\xa8"), hdr("X-Latin1", "caf\xe9 \xe2\x82"), hdr("User-Agent", "agree/1.0"),
		hdr("Cookie", "a=1"), hdr("Cookie", "b=2"),
	}},
	{method: "GET", target: "/sleep?ms=5"},
	{method: "GET", target: "/sleep?ms=+3"},
	{method: "GET", target: "/cpu?ms=5"},
	{method: "GET", target: "/counter"},
	{method: "GET", target: "/counter"},
	{method: "GET", target: "/stream?chunks=4&bytes=30&ms=0"},
	{method: "GET", target: "/stream?chunks=2&bytes=1"},
	{method: "GET", target: "/stream?chunks=0&bytes=10"},
	{method: "GET", target: "/stream?chunks=3&bytes=100000"},
	{method: "HEAD", target: "/stream?chunks=3&bytes=10"},
	{method: "GET", target: "/big?bytes=200000"},
	{method: "GET", target: "/big?bytes=0"},
	{method: "GET", target: "/pid"},
	{method: "GET", target: "/error"},
	{method: "GET", target: "/panic"},
	{method: "GET", target: "/nope"},
	{method: "GET", target: "/hello/"},
	{method: "GET", target: "/caf%C3%A9"},
	{method: "GET", target: "/%FFx"},
	{method: "POST", target: "/hello", body: "not read by the app"},
	{method: "GET", target: "/echo"},
	{method: "DELETE", target: "/stats"},
	{method: "GET", target: "/sleep"},
	{method: "GET", target: "/sleep?ms=abc"},
	{method: "GET", target: "/sleep?ms=-1"},
	{method: "GET", target: "/sleep?ms=1_0"},
	{method: "GET", target: "/sleep?ms=%e2%82%20"},
	{method: "GET", target: "/sleep?ms=%zz"},
	{method: "GET", target: "/sleep?ms=%2"},
	{method: "GET", target: "/sleep?x=%zz&ms=1;"},
	{method: "GET", target: "/sleep?ms=1&ms=%zz"},
	{method: "GET", target: "/cpu?ms=1.5"},
	{method: "GET", target: "/stream?chunks=2"},
	{method: "GET", target: "/stream?chunks=2&bytes=1&ms=x"},
	{method: "GET", target: "/stream?chunks=99999999999999999999&bytes=0"},
	{method: "GET", target: "/big"},
	{method: "GET", target: "/big?bytes=-99999999999999999999"},
	{method: "GET", target: "/stats?reset=%zz"},
	{method: "HEAD", target: "/big?bytes=99999999999999999999"},
}

// The expected differences between the two applications' answers. Everything else (status, every header
// field, body) must be the same, byte for byte.
//
//   - Date: the Go daemon's gateway adds one; wsgiref, which writes CGI responses (origin_server False),
//     leaves it to the front end. The field is left out of the comparison.
//   - HEAD: the Go daemon's gateway does not send the body; wsgiref does, and the front end drops it (RFC
//     9110 section 9.3.2). Only the heads are compared.
//   - /pid: each answers with its own process id; the worker ids must agree.
//   - /crash exits the process, so it is not sent to the Go daemon, which runs in the test's process; the
//     daemon tests check it on the Python side (TestDaemonCrash), chapters/app's tests on the Go side.
const skippedField = "Date"

func TestAgreement(t *testing.T) {
	t.Parallel()
	py := startDaemon(t, options{threads: 4, worker: "7"})
	goSock := goDaemon(t, app.New(app.Options{Worker: "7"}), gateway.Server{MultiThread: true})

	for _, r := range agreeCases {
		t.Run(r.String(), func(t *testing.T) {
			want, err := send(goSock, r)
			require.NoError(t, err, "the Go app")
			got, err := send(py.sock, r)
			require.NoError(t, err, "the Python app")
			compare(t, r, want, got, py.pid())
		})
	}

	// The gauges saw the same calls, and the Python daemon called close() on each body it got. The peak
	// may differ: a client has the whole response, and sends the next request, a moment before the daemon
	// calls close().
	t.Run("GET /stats", func(t *testing.T) {
		want, got := waitIdle(t, goSock), waitIdle(t, py.sock)
		delete(want, "max_inflight")
		delete(got, "max_inflight")
		require.Equal(t, want, got)
		require.Positive(t, got["closes"])
	})
}

// compare checks that the Python daemon's answer got is the Go daemon's want, but for the expected
// differences.
func compare(t *testing.T, r request, want, got reply, pyPid int) {
	t.Helper()
	require.Equal(t, want.status, got.status, "status; Python body: %q", got.body)
	if diff := cmp.Diff(fields(want), fields(got)); diff != "" {
		t.Errorf("%v: header fields (-Go +Python):\n%s", r, diff)
	}
	switch {
	case r.method == "HEAD":
	case r.target == "/pid":
		var w, g struct {
			PID    int    `json:"pid"`
			Worker string `json:"worker"`
		}
		require.NoError(t, json.Unmarshal([]byte(want.body), &w))
		require.NoError(t, json.Unmarshal([]byte(got.body), &g))
		require.Equal(t, os.Getpid(), w.PID)
		require.Equal(t, pyPid, g.PID, "the Python app's pid is its daemon's")
		require.Equal(t, w.Worker, g.Worker)
		require.Equal(t, strings.Replace(want.body, `"pid":`+strconv.Itoa(w.PID), `"pid":`+strconv.Itoa(g.PID), 1), got.body)
	default:
		if want.body != got.body {
			if len(want.body) > 3000 || len(got.body) > 3000 {
				t.Errorf("%v: bodies of %d (Go) and %d (Python) bytes differ", r, len(want.body), len(got.body))
			} else {
				t.Errorf("%v: body\nGo:     %q\nPython: %q", r, want.body, got.body)
			}
		}
	}
}

// fields returns the header fields of rep by lower-case name, without the field that may differ.
func fields(rep reply) map[string]string {
	m := map[string]string{}
	for _, h := range rep.header {
		if !strings.EqualFold(h.Name, skippedField) {
			m[strings.ToLower(h.Name)] = rep.get(h.Name)
		}
	}
	return m
}

// waitIdle waits until the app behind sock has no call in flight (a body the client stopped reading, as
// after HEAD, is closed when the daemon notices) and returns its gauge.
func waitIdle(t *testing.T, sock string) map[string]int64 {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var s map[string]int64
		rep := get(t, sock, "/stats")
		require.NoError(t, json.Unmarshal([]byte(rep.body), &s), rep.body)
		if s["inflight"] == 0 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls still in flight after 10s: %s", rep.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
