package wsgi

import (
	"bufio"
	"bytes"
	"context"
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

// python returns an interpreter that can import modules, or skips the test saying what to install.
func python(t testing.TB, modules ...string) string {
	t.Helper()
	py, err := Interpreter(modules...)
	if err != nil {
		pkg := "python3"
		if len(modules) > 0 {
			pkg = "python3-" + modules[0]
		}
		t.Skipf("%v: install it (apt-get install %s) to run this test", err, pkg)
	}
	return py
}

// lockedBuffer collects a process's output, which the test reads while the process writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// options says how to start a daemon.
type options struct {
	app       string   // module:callable; testapp:app when empty
	threads   int      // 1 when 0
	processes int      // 1 when 0
	worker    string   // PREFORK_WORKER
	beatMS    int      // PREFORK_BEAT_MS; 200 when 0
	modules   []string // what the interpreter must be able to import
	// wrap, when set, runs the daemon's command line through another program (as sh -c '...' "$@"): the
	// daemon is then not the test's child.
	wrap []string
	// stdin, when set, is the standard input of the command (of the wrapper).
	stdin io.Reader
	// group, when set, is the listening socket of a daemon already started: this one shares it, as the
	// daemons of a group do.
	group *daemon
	// extra holds more of daemon.py's options, such as --queue-timeout 1.
	extra []string
}

// daemon is a Python daemon started as chapter 4's master starts one: its listening socket inherited as
// descriptor 3, the write end of a heartbeat pipe as descriptor 4, the protocol's variables in its
// environment, in a process group of its own that the test kills when it ends.
type daemon struct {
	t      testing.TB
	sock   string
	ln     *net.UnixListener // the master's own handle on the listening socket
	cmd    *exec.Cmd
	pipe   *os.File  // the read end of the heartbeat pipe
	beats  chan byte // what the daemon wrote to it, closed at its end
	stderr *lockedBuffer
	exited chan struct{}
	state  *os.ProcessState // once exited is closed
}

func startDaemon(t testing.TB, o options) *daemon {
	t.Helper()
	py := python(t, o.modules...)
	if o.app == "" {
		o.app = "testapp:app"
	}
	o.threads = max(o.threads, 1)
	o.processes = max(o.processes, 1)
	if o.beatMS == 0 {
		o.beatMS = 200
	}
	d := &daemon{t: t, sock: filepath.Join(t.TempDir(), "daemon.sock"), beats: make(chan byte, 1<<16),
		stderr: &lockedBuffer{}, exited: make(chan struct{})}

	var err error
	if o.group != nil {
		d.sock, d.ln = o.group.sock, o.group.ln
	} else {
		d.ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: d.sock, Net: "unix"})
		require.NoError(t, err)
		t.Cleanup(func() { d.ln.Close() })
	}
	lf, err := d.ln.File()
	require.NoError(t, err)
	defer lf.Close()
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pw.Close() // the master keeps only the read end: when it closes that, the daemon's beats fail
	d.pipe = pr

	args := append(append([]string{}, o.wrap...), py, "daemon.py", "--threads", strconv.Itoa(o.threads),
		"--processes", strconv.Itoa(o.processes))
	args = append(append(args, o.extra...), o.app)
	d.cmd = exec.Command(args[0], args[1:]...)
	d.cmd.ExtraFiles = []*os.File{lf, pw} // descriptors 3 and 4
	d.cmd.Env = append(os.Environ(), "PREFORK_FD=3", "PREFORK_HEARTBEAT_FD=4",
		"PREFORK_WORKER="+o.worker, "PREFORK_BEAT_MS="+strconv.Itoa(o.beatMS),
		"PYTHONDONTWRITEBYTECODE=1") // no __pycache__ left in the source folder
	d.cmd.Stdin = o.stdin
	d.cmd.Stdout = d.stderr
	d.cmd.Stderr = d.stderr
	// Pdeathsig: a test binary that dies (a -timeout panic) takes the daemon with it, if no cleanup runs.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, d.cmd.Start())
	pgid := d.cmd.Process.Pid
	t.Cleanup(func() {
		syscall.Kill(-pgid, syscall.SIGKILL) // the group: a daemon started through a wrapper is in it too
		select {
		case <-d.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("daemon %d still running 10s after SIGKILL", pgid)
		}
		pr.Close()
		if t.Failed() {
			t.Logf("daemon output:\n%s", d.stderr.String())
		}
	})
	go func() {
		d.cmd.Wait()
		d.state = d.cmd.ProcessState
		close(d.exited)
	}()
	go func() {
		defer close(d.beats)
		b := make([]byte, 64)
		for {
			n, err := pr.Read(b)
			for _, c := range b[:n] {
				d.beats <- c
			}
			if err != nil {
				return
			}
		}
	}()

	// Python starts in a fraction of a second; a loaded machine and Flask's imports can take a few.
	select {
	case c, ok := <-d.beats:
		if !ok || c != 'R' {
			t.Fatalf("the daemon's first heartbeat byte is %q (open %v), want 'R'\n%s", c, ok, d.stderr.String())
		}
	case <-d.exited:
		t.Fatalf("the daemon exited before it was ready: %v\n%s", d.state, d.stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("the daemon did not write R within 20s\n%s", d.stderr.String())
	}
	return d
}

// pid returns the daemon's process id.
func (d *daemon) pid() int { return d.cmd.Process.Pid }

// waitExit waits until the daemon exits and returns its exit status.
func (d *daemon) waitExit(within time.Duration) int {
	d.t.Helper()
	select {
	case <-d.exited:
		return d.state.ExitCode()
	case <-time.After(within):
		d.t.Fatalf("the daemon is still running after %v\n%s", within, d.stderr.String())
		return -1
	}
}

// waitLog waits until the daemon's output contains s.
func (d *daemon) waitLog(s string, within time.Duration) {
	d.t.Helper()
	for deadline := time.Now().Add(within); !strings.Contains(d.stderr.String(), s); {
		if time.Now().After(deadline) {
			d.t.Fatalf("the daemon did not write %q within %v; it wrote:\n%s", s, within, d.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// request is a request as chapter 5's front end has it once chapter 1's reader has read it.
type request struct {
	method, target, body string
	header               []gateway.Header
	chunked              bool // the client sent the body chunked: the environ has no CONTENT_LENGTH
}

func (r request) String() string { return r.method + " " + r.target }

// environ builds the environ a front end on 127.0.0.1:8080 builds for r.
func (r request) environ() (*gateway.Environ, error) {
	length := int64(len(r.body))
	if r.chunked {
		length = -1
	}
	req := &gateway.Request{
		Method: r.method, Target: r.target, Proto: "HTTP/1.1", Major: 1, Minor: 1,
		Header:        append([]gateway.Header{{Name: "Host", Value: "127.0.0.1:8080"}}, r.header...),
		Body:          strings.NewReader(r.body),
		ContentLength: length,
	}
	return gateway.NewEnviron(req, gateway.Server{Name: "127.0.0.1", Port: "8080"})
}

// reply is a daemon's response, read whole.
type reply struct {
	code   int
	status string
	header []gateway.Header
	body   string
}

// get returns the values of the header field name, joined by ", ".
func (r reply) get(name string) string {
	var vs []string
	for _, h := range r.header {
		if strings.EqualFold(h.Name, name) {
			vs = append(vs, h.Value)
		}
	}
	return strings.Join(vs, ", ")
}

// send sends r to the daemon listening at sock over a new connection, as a front end does, and reads the
// response: its head only for HEAD, the whole body otherwise.
func send(sock string, r request) (reply, error) {
	env, err := r.environ()
	if err != nil {
		return reply{}, err
	}
	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		return reply{}, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	if err := scgi.WriteRequest(conn, env); err != nil {
		return reply{}, fmt.Errorf("%v: writing the request: %w", r, err)
	}
	return readReply(conn, r.method == "HEAD")
}

// readReply reads a response from conn: when it has a Content-Length, that many bytes of body (a daemon
// that closes with bytes unread resets the connection after them, which the reader need not see).
func readReply(conn io.Reader, head bool) (reply, error) {
	res, err := scgi.ReadResponse(bufio.NewReader(conn), scgi.DefaultLimits)
	if err != nil {
		return reply{}, err
	}
	rep := reply{code: res.Code, status: res.Status, header: res.Header}
	if head {
		return rep, nil
	}
	body := res.Body
	if cl := rep.get("Content-Length"); cl != "" {
		n, _ := strconv.ParseInt(cl, 10, 64)
		body = io.LimitReader(body, n)
	}
	b, err := io.ReadAll(body)
	rep.body = string(b)
	if err != nil {
		return rep, fmt.Errorf("reading the body: %w", err)
	}
	if cl := rep.get("Content-Length"); cl != "" && strconv.Itoa(len(b)) != cl {
		return rep, fmt.Errorf("body of %d bytes for Content-Length %s", len(b), cl)
	}
	return rep, nil
}

// mustSend is send for the test goroutine.
func mustSend(t *testing.T, sock string, r request) reply {
	t.Helper()
	rep, err := send(sock, r)
	require.NoError(t, err, "%v", r)
	return rep
}

// get sends GET target.
func get(t *testing.T, sock, target string) reply {
	t.Helper()
	return mustSend(t, sock, request{method: "GET", target: target})
}

// goDaemon serves the Go test application over SCGI on a UNIX socket in a folder of the test's, a goroutine
// per connection, as chapter 5's Go daemon serves it (with a bound on the goroutines), and returns the
// socket's path.
func goDaemon(t *testing.T, app gateway.App, srv gateway.Server) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "go.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				context.AfterFunc(ctx, func() { conn.Close() })
				conn.SetDeadline(time.Now().Add(60 * time.Second))
				req, err := scgi.ReadRequest(bufio.NewReader(conn), scgi.DefaultLimits)
				if err != nil {
					scgi.Refuse(conn, err)
					return
				}
				scgi.Respond(conn, req.Environ(srv), app)
			})
		}
	})
	return sock
}

// isGone reports whether process pid has exited (it may be a zombie that nobody reaped yet).
func isGone(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	// The state follows the command name, which is in parentheses: "1234 (python3) Z ...".
	i := bytes.LastIndexByte(stat, ')')
	return err == nil && i > 0 && len(stat) > i+2 && stat[i+2] == 'Z'
}
