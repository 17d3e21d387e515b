package wsgi

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"course/chapters/gateway"
	"course/chapters/launch"
)

// startedAt is the X-Request-Start field of a request whose front end started handing it over at t.
func startedAt(t time.Time) gateway.Header {
	return hdr("X-Request-Start", "t="+strconv.FormatInt(t.UnixMicro(), 10))
}

// TestDaemonQueueTimeout checks --queue-timeout: a request that says it has waited longer (X-Request-Start)
// is answered 504 and the application does not run; one that has not, or says nothing usable, runs.
func TestDaemonQueueTimeout(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, options{extra: []string{"--queue-timeout", "0.5"}})
	counter := func(h ...gateway.Header) reply {
		return mustSend(t, d.sock, request{method: "GET", target: "/counter", header: h})
	}
	require.Equal(t, "1\n", counter(startedAt(time.Now())).body)
	require.Equal(t, "2\n", counter().body, "no X-Request-Start: nothing to check")
	require.Equal(t, "3\n", counter(hdr("X-Request-Start", "t=soon")).body, "a start that is not a number is ignored")

	rep := counter(startedAt(time.Now().Add(-2 * time.Second)))
	require.Equal(t, "504 Gateway Timeout", rep.status)
	require.Contains(t, rep.body, "more than the queue timeout of 0.5s")
	rep = mustSend(t, d.sock, request{method: "POST", target: "/echo", body: strings.Repeat("x", 1<<20),
		header: []gateway.Header{startedAt(time.Now().Add(-time.Second))}})
	require.Equal(t, "504 Gateway Timeout", rep.status, "the unread body is read, and the 504 arrives whole")
	require.Equal(t, "4\n", counter().body, "the requests that timed out did not run the application")
	d.waitLog("queue timeout: GET /counter waited", 5*time.Second)
}

// TestDaemonRequestTimeout checks --request-timeout: a request that runs longer is answered 504 at once; the
// daemon stops taking requests, lets the request of its other thread finish, and exits for the master to
// start another.
func TestDaemonRequestTimeout(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, options{threads: 2, extra: []string{"--request-timeout", "0.5", "--shutdown-timeout", "5"}})
	var wg sync.WaitGroup
	var sibling reply
	var siblingErr error
	start := time.Now()
	wg.Go(func() {
		time.Sleep(200 * time.Millisecond) // after the hung one: it runs, shorter than the timeout, when the daemon restarts
		sibling, siblingErr = send(d.sock, request{method: "GET", target: "/sleep?ms=450"})
	})
	rep := mustSend(t, d.sock, request{method: "GET", target: "/sleep?ms=30000"})
	took := time.Since(start)
	require.Equal(t, "504 Gateway Timeout", rep.status)
	require.Contains(t, rep.body, "more than the request timeout of 0.5s")
	require.Less(t, took, 5*time.Second, "the 504 comes at the request timeout, not when the app returns")
	wg.Wait()
	require.NoError(t, siblingErr)
	require.Equal(t, "slept 450 ms\n", sibling.body, "the other thread's request finishes")
	require.Equal(t, 0, d.waitExit(10*time.Second), "the daemon exits for the master to restart it")
	d.waitLog("request timeout: GET /sleep has run", time.Second)
}

// TestDaemonMaximumRequests checks --maximum-requests: the daemon serves that many requests, then exits.
func TestDaemonMaximumRequests(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, options{extra: []string{"--maximum-requests", "3"}})
	for i := range 3 {
		require.Equal(t, fmt.Sprintf("%d\n", i+1), get(t, d.sock, "/counter").body)
	}
	require.Equal(t, 0, d.waitExit(10*time.Second))
	d.waitLog("served --maximum-requests 3", time.Second)
}

// TestCommand checks the command line that starts daemon.py from the folder Unpack fills, and runs it.
func TestCommand(t *testing.T) {
	python(t)
	dir := t.TempDir()
	require.NoError(t, Unpack(dir))
	for _, f := range []string{"daemon.py", "testapp.py", "flaskapp.py"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	}
	dc := &launch.DaemonConfig{App: "testapp:app", PythonPath: "/srv/app", Processes: 2, Threads: 3,
		QueueTimeout: 1500 * time.Millisecond, RequestTimeout: time.Minute, MaximumRequests: 7}
	t.Setenv("PYTHONPATH", "")
	path, args, env, err := Command(dc, dir)
	require.NoError(t, err)
	require.NotEmpty(t, path)
	require.Equal(t, []string{filepath.Join(dir, "daemon.py"), "--processes", "2", "--threads", "3",
		"--queue-timeout", "1.5", "--request-timeout", "60", "--socket-timeout", "0", "--shutdown-timeout", "0",
		"--maximum-requests", "7", "testapp:app"}, args)
	require.Contains(t, env, "PYTHONPATH="+dir+":/srv/app")
}
