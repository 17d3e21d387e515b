package wsgi

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"course/chapters/app"
	"course/chapters/gateway"
)

// TestPython runs the Python tests of this folder (test_*.py), so that `make test` runs them.
func TestPython(t *testing.T) {
	t.Parallel()
	py := python(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-m", "unittest", "discover", "-s", ".", "-p", "test_*.py")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "python3 -m unittest discover -s chapters/wsgi:\n%s", out)
}

// TestValidated runs the test application checked by wsgiref.validate (testapp:validated) under the
// daemon, with every request of the agreement test: the validator raises on what breaks PEP 3333, in the
// app or in the daemon (the environ it builds, its wsgi.input, its calls of close()), and warns on what is
// dubious. The answers must be the Go app's, but for the headers: the validator hides the length of a list
// body, so that the daemon sends none.
func TestValidated(t *testing.T) {
	t.Parallel()
	py := startDaemon(t, options{app: "testapp:validated", threads: 4, worker: "7"})
	goSock := goDaemon(t, app.New(app.Options{Worker: "7"}), gateway.Server{MultiThread: true})
	for _, r := range agreeCases {
		want, err := send(goSock, r)
		require.NoError(t, err, "%v: the Go app", r)
		got, err := send(py.sock, r)
		require.NoError(t, err, "%v: the Python app", r)
		require.Equal(t, want.status, got.status, "%v", r)
		if r.method != "HEAD" && r.target != "/pid" {
			require.Equal(t, want.body, got.body, "%v", r)
		}
	}
	waitIdle(t, py.sock) // every body closed, those of HEAD requests too
	out := py.stderr.String()
	for _, bad := range []string{"AssertionError", "WSGIWarning", "garbage collected without being closed"} {
		require.NotContains(t, out, bad, "the validator found a fault:\n%s", out)
	}
	// The only tracebacks are those of /error and /panic.
	require.Equal(t, 2, strings.Count(out, "Traceback"), out)
}
