package wsgi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"course/chapters/gateway"
	"course/chapters/scgi"
)

// stats reads the gauge of the app behind sock.
func stats(t *testing.T, sock string) map[string]int64 {
	t.Helper()
	rep := get(t, sock, "/stats")
	var s map[string]int64
	require.NoError(t, json.Unmarshal([]byte(rep.body), &s), rep.body)
	return s
}

// TestDaemonServes checks what the application sees of the daemon: its process, its worker id, the
// multithread and multiprocess flags its arguments set, and a streamed body that arrives as it is made.
func TestDaemonServes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		threads, processes int
		wantThread         string
		wantProcess        string
	}{
		{1, 1, "false", "false"},
		{4, 2, "true", "true"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dx%d", tt.processes, tt.threads), func(t *testing.T) {
			t.Parallel()
			d := startDaemon(t, options{threads: tt.threads, processes: tt.processes, worker: "5"})
			require.Equal(t, fmt.Sprintf("{\"pid\":%d,\"worker\":\"5\"}\n", d.pid()), get(t, d.sock, "/pid").body)

			var env map[string]string
			require.NoError(t, json.Unmarshal([]byte(get(t, d.sock, "/env").body), &env))
			require.Equal(t, tt.wantThread, env["wsgi.multithread"])
			require.Equal(t, tt.wantProcess, env["wsgi.multiprocess"])
			require.NotContains(t, env, "PREFORK_FD", "the daemon's own environment is not the request's")
			require.NotContains(t, env, "SCGI", "SCGI=1 is the protocol's, not a CGI variable")

			rep := mustSend(t, d.sock, request{method: "POST", target: "/echo", body: "abc",
				header: []gateway.Header{hdr("Content-Type", "text/x-abc")}})
			require.Equal(t, "200 OK", rep.status)
			require.Equal(t, "text/x-abc", rep.get("Content-Type"))
			require.Equal(t, "abc", rep.body)
		})
	}
}

// TestDaemonStreams checks that a body the app yields chunk by chunk leaves the daemon as it is made, not
// all at the end: the first chunk arrives while the app still sleeps before the next ones.
func TestDaemonStreams(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, options{})
	env, err := request{method: "GET", target: "/stream?chunks=3&bytes=5&ms=1500"}.environ()
	require.NoError(t, err)
	conn, err := net.Dial("unix", d.sock)
	require.NoError(t, err)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	require.NoError(t, scgi.WriteRequest(conn, env))
	res, err := scgi.ReadResponse(bufio.NewReader(conn), scgi.DefaultLimits)
	require.NoError(t, err)
	require.Empty(t, res.Header[1:], "no Content-Length for a stream: only Content-Type")

	first := make([]byte, 5)
	_, err = io.ReadFull(res.Body, first)
	require.NoError(t, err)
	t0 := time.Now()
	rest, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, "abcde", string(first))
	require.Equal(t, "fghijklmno", string(rest))
	// The rest took the app's two sleeps of 1.5s: the first chunk did not wait for them. (The margin is for a
	// loaded machine, which may hand over the first chunk late.)
	require.Greater(t, time.Since(t0), 1500*time.Millisecond, "the first chunk came with the others, at the end")
}

// TestDaemonHeartbeat checks the heartbeat: "R" once ready (startDaemon waits for it), then "." every
// PREFORK_BEAT_MS.
func TestDaemonHeartbeat(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, options{beatMS: 100})
	n := 0
	for deadline := time.After(2 * time.Second); ; {
		select {
		case c := <-d.beats:
			require.Equal(t, byte('.'), c)
			n++
			continue
		case <-deadline:
		}
		break
	}
	// 20 beats in 2s; a loaded machine may delay some, and nothing may add any.
	require.GreaterOrEqual(t, n, 8, "beats in 2s at one per 100ms")
	require.LessOrEqual(t, n, 21, "beats in 2s at one per 100ms")
}

// TestDaemonThreads checks that T threads serve T requests at once, and not more: with 3 threads, 5 slow
// requests sent together run 3 at a time, the other 2 waiting in the socket's backlog.
func TestDaemonThreads(t *testing.T) {
	t.Parallel()
	const threads, requests = 3, 5
	d := startDaemon(t, options{threads: threads})
	var wg sync.WaitGroup
	start := time.Now()
	for range requests {
		wg.Go(func() {
			rep, err := send(d.sock, request{method: "GET", target: "/sleep?ms=1500"})
			if err != nil || rep.body != "slept 1500 ms\n" {
				t.Errorf("GET /sleep?ms=1500: %q, %v", rep.body, err)
			}
		})
	}
	wg.Wait()
	s := stats(t, d.sock)
	require.Equal(t, int64(requests), s["calls"])
	require.Equal(t, int64(threads), s["max_inflight"], "calls of the app at once, with %d threads", threads)
	require.Greater(t, time.Since(start), 2900*time.Millisecond, "5 requests of 1.5s on 3 threads take two rounds")
}

// TestDaemonSIGTERM checks a graceful stop: the request in flight is answered, the daemon takes no new
// connection (it stays in the backlog for another daemon), and exits with status 0.
func TestDaemonSIGTERM(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, options{threads: 2})
	slow := make(chan reply, 1)
	go func() {
		rep, err := send(d.sock, request{method: "GET", target: "/sleep?ms=1500"})
		if err != nil {
			t.Errorf("the request in flight: %v", err)
		}
		slow <- rep
	}()
	for deadline := time.Now().Add(10 * time.Second); stats(t, d.sock)["inflight"] != 1; {
		require.False(t, time.Now().After(deadline), "the slow request never started")
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, syscall.Kill(d.pid(), syscall.SIGTERM))
	d.waitLog("stopping (SIGTERM)", 5*time.Second)

	late, err := net.Dial("unix", d.sock) // accepted by the kernel into the backlog, not by the daemon
	require.NoError(t, err)
	defer late.Close()
	require.Equal(t, "slept 1500 ms\n", (<-slow).body)
	require.Equal(t, 0, d.waitExit(10*time.Second))

	// The late connection is still in the backlog, for the master's next daemon: here, the test takes it.
	d.ln.SetDeadline(time.Now().Add(5 * time.Second))
	queued, err := d.ln.Accept()
	require.NoError(t, err, "the connection made after SIGTERM should still wait in the backlog")
	queued.Close()
}

// TestDaemonMasterGone checks that a daemon whose master is gone stops: here the master closes its end of
// the heartbeat pipe, so the next beat fails.
func TestDaemonMasterGone(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, options{beatMS: 100})
	require.NoError(t, d.pipe.Close())
	require.Equal(t, 0, d.waitExit(5*time.Second))
	require.Contains(t, d.stderr.String(), "stopping (the master is gone)")
}

// TestDaemonOrphaned checks the other sign that the master is gone: the daemon has another parent. The
// daemon is started by a shell, which exits once the daemon is ready, as a master that dies does; the
// heartbeat pipe's read end is still open (the test holds it), so only the new parent tells.
func TestDaemonOrphaned(t *testing.T) {
	t.Parallel()
	stdin, release := io.Pipe()
	d := startDaemon(t, options{beatMS: 100, stdin: stdin,
		wrap: []string{"/bin/sh", "-c", `"$@" & echo "started $!"; read line`, "sh"}})
	release.Close() // the shell's read ends: it exits, and the daemon is an orphan
	// The daemon holds the output pipe until it exits too.
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("the orphaned daemon still runs after 10s:\n%s", d.stderr.String())
	}
	require.Contains(t, d.stderr.String(), "stopping (the master is gone)")
	var pid int
	_, err := fmt.Sscanf(d.stderr.String(), "started %d", &pid)
	require.NoError(t, err)
	for deadline := time.Now().Add(5 * time.Second); !isGone(pid); {
		require.False(t, time.Now().After(deadline), "daemon %d is still running", pid)
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDaemonCrash checks /crash: the process exits with status 3 at once, and the front end's request gets
// no answer (a front end answers 502).
func TestDaemonCrash(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, options{threads: 2})
	_, err := send(d.sock, request{method: "GET", target: "/crash"})
	require.ErrorContains(t, err, "the daemon closed the connection without answering")
	require.Equal(t, 502, gateway.StatusOf(err))
	require.Equal(t, 3, d.waitExit(5*time.Second))
	require.Contains(t, d.stderr.String(), "app: GET /crash: exiting with status 3")
}

// TestDaemonClosesOnDisconnect checks that when the front end goes away mid-response, the daemon calls
// close() on the app's body (the gauge counts it) and its thread is free again: with one thread, the next
// request is served.
func TestDaemonClosesOnDisconnect(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, options{threads: 1})
	env, err := request{method: "GET", target: "/stream?chunks=1000&bytes=1000&ms=20"}.environ()
	require.NoError(t, err)
	conn, err := net.Dial("unix", d.sock)
	require.NoError(t, err)
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	require.NoError(t, scgi.WriteRequest(conn, env))
	res, err := scgi.ReadResponse(bufio.NewReader(conn), scgi.DefaultLimits)
	require.NoError(t, err)
	_, err = io.ReadFull(res.Body, make([]byte, 3000))
	require.NoError(t, err)
	conn.Close() // 3 of the 1000 chunks read: the client went away

	// The one thread answers /stats only once the stream is over, so the gauge shows it ended.
	s := stats(t, d.sock)
	require.Equal(t, map[string]int64{"inflight": 0, "max_inflight": 1, "calls": 1, "closes": 1, "counter": 0}, s)
	require.Equal(t, "Hello, World!\n", get(t, d.sock, "/hello").body)
}

// TestDaemonRefuses sends requests that break the protocol to the Python daemon and to the Go package's
// reader: both refuse each with the same status and the same reason, and the daemon goes on serving.
func TestDaemonRefuses(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, options{})
	tests := []struct{ name, raw string }{
		{"an HTTP request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"no length", ":abc,"},
		{"a leading zero", "024:CONTENT_LENGTH\x000\x00SCGI\x001\x00,"},
		{"closed in the length", "24"},
		{"longer than 64 KiB", "70000:"},
		{"closed in the variables", "24:CONTENT_LENGTH\x00"},
		{"closed before the comma", "24:CONTENT_LENGTH\x000\x00SCGI\x001\x00"},
		{"no comma", "24:CONTENT_LENGTH\x000\x00SCGI\x001\x00;"},
		{"an empty netstring", "0:,"},
		{"no final NUL", "23:CONTENT_LENGTH\x000\x00SCGI\x001,"},
		{"a name without a value", "29:CONTENT_LENGTH\x000\x00SCGI\x001\x00NAME\x00,"},
		{"CONTENT_LENGTH not first", "24:SCGI\x001\x00CONTENT_LENGTH\x000\x00,"},
		{"an empty name", "27:CONTENT_LENGTH\x000\x00SCGI\x001\x00\x00x\x00,"},
		{"a name twice", "31:CONTENT_LENGTH\x000\x00SCGI\x001\x00SCGI\x001\x00,"},
		{"an empty CONTENT_LENGTH", "23:CONTENT_LENGTH\x00\x00SCGI\x001\x00,"},
		{"a signed CONTENT_LENGTH", "25:CONTENT_LENGTH\x00+1\x00SCGI\x001\x00,"},
		{"a body over 1 GiB", "33:CONTENT_LENGTH\x002000000000\x00SCGI\x001\x00,"},
		{"no SCGI", "17:CONTENT_LENGTH\x000\x00,"},
		{"SCGI 2", "24:CONTENT_LENGTH\x000\x00SCGI\x002\x00,"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The Go package's answer.
			_, err := scgi.ReadRequest(bufio.NewReader(strings.NewReader(tt.raw)), scgi.DefaultLimits)
			require.Error(t, err)
			var out bytes.Buffer
			require.NoError(t, scgi.Refuse(&out, err))
			want, err := readReply(&out, false)
			require.NoError(t, err)

			// The Python daemon's, to the same bytes followed by the end of the stream.
			conn, err := net.Dial("unix", d.sock)
			require.NoError(t, err)
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			_, err = io.WriteString(conn, tt.raw)
			require.NoError(t, err)
			require.NoError(t, conn.(*net.UnixConn).CloseWrite())
			got, err := readReply(conn, false)
			require.NoError(t, err)

			require.Equal(t, want.status, got.status)
			require.Equal(t, want.body, got.body)
			require.True(t, strings.HasPrefix(got.body, strconv.Itoa(got.code)+" "), got.body)
		})
	}
	require.Equal(t, "Hello, World!\n", get(t, d.sock, "/hello").body, "the daemon serves on")
}

// TestDaemonBadApp checks that a daemon whose application cannot be loaded says why and exits with status
// 4, which tells a master not to start it again and again.
func TestDaemonBadApp(t *testing.T) {
	t.Parallel()
	py := python(t)
	tests := []struct{ spec, want string }{
		{"nosuchmodule:app", "ModuleNotFoundError: No module named 'nosuchmodule'"},
		{"testapp:nosuchapp", "AttributeError"},
		{"testapp", "'testapp' is not module:callable (for example testapp:app)"},
		{"testapp:MAX_BIG", "testapp:MAX_BIG is not callable"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, py, "daemon.py", "--bind", filepath.Join(t.TempDir(), "s"), tt.spec)
			cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.True(t, errors.As(err, &exit), "%v\n%s", err, out)
			require.Equal(t, 4, exit.ExitCode(), "%s", out)
			require.Contains(t, string(out), "cannot load "+tt.spec)
			require.Contains(t, string(out), tt.want)
		})
	}
}

// TestDaemonStandalone runs the daemon by hand, as the README shows: it makes its own socket with --bind,
// serves, and on SIGTERM stops and removes the socket.
func TestDaemonStandalone(t *testing.T) {
	t.Parallel()
	py := python(t)
	sock := filepath.Join(t.TempDir(), "d.sock")
	cmd := exec.Command(py, "daemon.py", "--bind", sock, "--threads", "2", "testapp:app")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})

	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if rep, err := send(sock, request{method: "GET", target: "/hello"}); err == nil {
			require.Equal(t, "Hello, World!\n", rep.body)
			break
		}
		require.False(t, time.Now().After(deadline), "no answer on %s within 20s:\n%s", sock, out.String())
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		exited <- err
		require.NoError(t, err, out.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10s after SIGTERM:\n%s", out.String())
	}
	_, err := os.Stat(sock)
	require.ErrorIs(t, err, os.ErrNotExist, "the socket is removed")
}
