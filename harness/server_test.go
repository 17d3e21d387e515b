package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testServer is the binary built from testdata/testserver by TestMain.
var testServer string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if err := BecomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "harness-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	testServer = filepath.Join(dir, "testserver")
	if err := Build(context.Background(), "testdata/testserver", testServer, false); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if left := leaked(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "processes left behind by the tests: %v\n", left)
		return 1
	}
	return code
}

// leaked returns the live processes that a server started by this test binary left behind.
func leaked() []Process {
	prefix := fmt.Sprintf("%s=%d.", runEnv, os.Getpid())
	var ps []Process
	for _, p := range allProcs() {
		if p.state == 'Z' {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.pid))
		if err == nil && strings.Contains(string(b), "\x00"+prefix) {
			ps = append(ps, Process{Pid: p.pid, Cmdline: cmdline(p.pid)})
		}
	}
	return ps
}

func startT(t *testing.T, cfg ServerConfig) *Server {
	t.Helper()
	s, err := Start(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { s.Stop(0) })
	return s
}

func get(t *testing.T, addr string) *Response {
	t.Helper()
	c := dialT(t, addr)
	require.NoError(t, c.Send(Request("GET", "/")))
	r, err := c.ReadResponse(5*time.Second, false)
	require.NoError(t, err, c.Transcript())
	return r
}

func TestStartServeStop(t *testing.T) {
	s := startT(t, ServerConfig{Command: []string{testServer}, Flags: []string{"-mode", "serve"}})
	require.Equal(t, fmt.Sprintf("127.0.0.1:%d", s.Port()), s.Addr())
	require.Equal(t, "ok\n", string(get(t, s.Addr()).Body))
	exited, _ := s.Exited()
	require.False(t, exited)
	require.Equal(t, []Process{{Pid: s.Pid(), Cmdline: testServer + " -addr " + s.Addr() + " -mode serve"}}, s.Processes())
	require.Empty(t, s.Leftovers())

	res := s.Stop(5 * time.Second)
	require.True(t, res.Graceful)
	require.False(t, res.ExitedBefore)
	require.Equal(t, "exit status 0", res.Status)
	require.Empty(t, res.Leftovers)
	require.Less(t, res.After, 5*time.Second)
	require.Equal(t, res, s.Stop(time.Second), "a second Stop returns the first result")
	require.Equal(t, "testserver: listening on "+s.Addr()+"\ntestserver: SIGTERM, shutting down\n", s.Output())
	_, err := Dial(s.Addr(), time.Second)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
}

func TestStartFailures(t *testing.T) {
	tests := []struct {
		name    string
		mode    string
		timeout time.Duration
		exited  bool
		status  string
		message string // a regexp
	}{
		{"exits at once", "exit", 10 * time.Second, true, "exit status 3",
			`^the server exited with status 3 before accepting connections on 127\.0\.0\.1:\d+; its output ends with:\ntestserver: bad configuration\n$`},
		{"never listens", "nolisten", 500 * time.Millisecond, false, "",
			`^the server did not accept connections on 127\.0\.0\.1:\d+ within 500ms \(it was killed\); its output ends with:\ntestserver: not listening\n$`},
		{"unknown flag", "serve -nosuchflag", 10 * time.Second, true, "exit status 2", `flag provided but not defined: -nosuchflag`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := Start(ServerConfig{Command: append([]string{testServer, "-mode"}, strings.Fields(tt.mode)...),
				ReadyTimeout: tt.timeout})
			var se *StartError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tt.exited, se.Exited)
			require.Equal(t, tt.status, se.Status)
			require.Regexp(t, regexp.MustCompile(tt.message), err.Error())
			require.Less(t, time.Since(start), tt.timeout+5*time.Second)
			_, serr := os.Stat(fmt.Sprintf("/proc/%d", se.Pid))
			require.True(t, errors.Is(serr, os.ErrNotExist), "the process is gone and reaped")
		})
	}
}

func TestStartCommandArgs(t *testing.T) {
	s := &Server{addr: "127.0.0.1:4242", port: 4242}
	tests := []struct {
		cfg  ServerConfig
		want []string
	}{
		{ServerConfig{Command: []string{"./server"}, Flags: []string{"-workers", "2"}},
			[]string{"./server", "-addr", "127.0.0.1:4242", "-workers", "2"}},
		{ServerConfig{Command: []string{"./server", "-listen={addr}"}}, []string{"./server", "-listen=127.0.0.1:4242"}},
		{ServerConfig{Command: []string{"python3", "app.py", "--port", "{port}"}}, []string{"python3", "app.py", "--port", "4242"}},
		{ServerConfig{Command: []string{"./server"}, Flags: []string{"-a", "{addr}"}}, []string{"./server", "-a", "127.0.0.1:4242"}},
		{ServerConfig{Command: []string{"python3", "s.py", "--port", "{port}", "{flags}", "-v"}, Flags: []string{"-idle-timeout", "1s"}},
			[]string{"python3", "s.py", "--port", "4242", "-idle-timeout", "1s", "-v"}},
		{ServerConfig{Command: []string{"s", "--host={host}", "{flags}"}}, []string{"s", "--host=127.0.0.1", "-addr", "127.0.0.1:4242"}},
		{ServerConfig{Command: []string{"s", "{flags}", "-p", "{port}"}, Flags: []string{"-a", "{addr}"}},
			[]string{"s", "-a", "127.0.0.1:4242", "-p", "4242"}},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, s.argv(tt.cfg))
	}
}

func TestStartFloodingServer(t *testing.T) {
	s := startT(t, ServerConfig{Command: []string{testServer, "-mode", "flood", "-flood", strconv.Itoa(8 << 20)}, OutputLimit: 4096})
	require.Equal(t, "ok\n", string(get(t, s.Addr()).Body), "a server that floods its output is not stalled")
	res := s.Stop(5 * time.Second)
	require.True(t, res.Graceful)
	out := s.Output()
	require.True(t, strings.HasPrefix(out, strings.Repeat(strings.Repeat("x", 1023)+"\n", 2)))
	require.Regexp(t, `\n\[\.\.\. \d+ bytes of output dropped \.\.\.\]\n`, out)
	require.True(t, strings.HasSuffix(out, "testserver: flood done\ntestserver: listening on "+s.Addr()+"\ntestserver: SIGTERM, shutting down\n"), out[len(out)-200:])
	require.Less(t, len(out), 4096+100)
}

func TestStopIgnoringSIGTERM(t *testing.T) {
	s := startT(t, ServerConfig{Command: []string{testServer, "-mode", "noterm"}})
	start := time.Now()
	res := s.Stop(300 * time.Millisecond)
	require.False(t, res.Graceful)
	require.True(t, res.Killed)
	require.Equal(t, "killed by signal 9 (SIGKILL)", res.Status)
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	exited, how := s.Exited()
	require.True(t, exited)
	require.Equal(t, "killed by signal 9 (SIGKILL)", how)
}

func TestSignalAndExited(t *testing.T) {
	s := startT(t, ServerConfig{Command: []string{testServer, "-mode", "serve"}})
	require.NoError(t, s.Signal(syscall.SIGKILL))
	require.Eventually(t, func() bool { exited, _ := s.Exited(); return exited }, 5*time.Second, 10*time.Millisecond)
	_, how := s.Exited()
	require.Equal(t, "killed by signal 9 (SIGKILL)", how)
	res := s.Stop(time.Second)
	require.True(t, res.ExitedBefore)
	require.False(t, res.Graceful)
	require.Equal(t, "killed by signal 9 (SIGKILL)", res.Status)
}

// printedPid waits for the test server to print "WHO pid N" and returns N.
func printedPid(t *testing.T, s *Server, who string) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		m := regexp.MustCompile(who + ` pid (\d+)`).FindStringSubmatch(s.Output())
		if m != nil {
			pid, _ = strconv.Atoi(m[1])
		}
		return m != nil
	}, 5*time.Second, 10*time.Millisecond)
	return pid
}

// A daemon that double-forks and calls setsid leaves the process group, so killing the group misses it:
// Leftovers must still find it and kill it.
func TestLeftoversFindsAnEscapedDaemon(t *testing.T) {
	s := startT(t, ServerConfig{Command: []string{testServer, "-mode", "doublefork"}})
	pid := printedPid(t, s, "sleeper")
	st, err := readStat(pid)
	require.NoError(t, err)
	require.NotEqual(t, s.Pid(), st.pgid, "the daemon left the server's process group")
	require.Equal(t, os.Getpid(), st.ppid, "the orphan was re-parented to us, the subreaper")
	daemon := Process{Pid: pid, Cmdline: testServer + " -mode=sleeper"}
	require.Equal(t, []Process{daemon}, s.Leftovers(), "before Stop, Leftovers only lists")
	require.Len(t, s.Processes(), 2)

	res := s.Stop(time.Second)
	require.False(t, res.Graceful, "a process that had to be killed makes the stop not graceful")
	require.Equal(t, "exit status 0", res.Status, "the main process itself exited on SIGTERM")
	require.Equal(t, []Process{daemon}, res.Leftovers)
	_, err = os.Stat(fmt.Sprintf("/proc/%d", pid))
	require.ErrorIs(t, err, os.ErrNotExist, "the daemon was killed and reaped")
	require.Empty(t, s.Leftovers())
}

// The processes a server starts in its group must stop with it: one that had to be killed is reported, and
// the stop is not graceful, however promptly the main process exited.
func TestStopChildren(t *testing.T) {
	tests := []struct {
		name     string
		mode     string
		crash    bool // the main process is killed before Stop, as a crash would
		graceful bool
		left     bool
	}{
		{"a child stopped and waited for", "child", false, true, false},
		{"a child that ignores SIGTERM", "badchild", false, false, true},
		{"a child that outlives a crash", "badchild", true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startT(t, ServerConfig{Command: []string{testServer, "-mode", tt.mode}})
			pid := printedPid(t, s, "child")
			st, err := readStat(pid)
			require.NoError(t, err)
			require.Equal(t, s.Pid(), st.pgid, "the child is in the server's process group")

			status := "exit status 0"
			if tt.crash {
				require.NoError(t, s.Signal(syscall.SIGKILL))
				require.Eventually(t, func() bool { exited, _ := s.Exited(); return exited }, 5*time.Second, 10*time.Millisecond)
				status = "killed by signal 9 (SIGKILL)"
			}
			res := s.Stop(time.Second)
			require.Equal(t, tt.graceful, res.Graceful, "%+v", res)
			require.False(t, res.Killed, "the main process was not killed by Stop")
			require.Equal(t, tt.crash, res.ExitedBefore)
			require.Equal(t, status, res.Status)
			if tt.left {
				require.Equal(t, []Process{{Pid: pid, Cmdline: testServer + " -mode=stubborn"}}, res.Leftovers)
			} else {
				require.Empty(t, res.Leftovers)
			}
			_, err = os.Stat(fmt.Sprintf("/proc/%d", pid))
			require.ErrorIs(t, err, os.ErrNotExist, "the child is gone and reaped")
		})
	}
}

func TestReason(t *testing.T) {
	for code, want := range map[int]string{200: "OK", 413: "Content Too Large", 431: "Request Header Fields Too Large", 599: ""} {
		require.Equal(t, want, Reason(code), "%d", code)
	}
}

func TestBuildReportsCompilerErrors(t *testing.T) {
	err := Build(context.Background(), "testdata/broken", filepath.Join(t.TempDir(), "broken"), false)
	require.ErrorContains(t, err, "build testdata/broken: go build -o ")
	require.ErrorContains(t, err, `main.go:5:14: cannot use "not a number" (untyped string constant) as int value in variable declaration`)
}

// TestBuildOverlay builds testdata/broken with its main.go replaced by a copy that compiles: the overlay is
// what is built, and the source is left as it was.
func TestBuildOverlay(t *testing.T) {
	dir := t.TempDir()
	fixed := filepath.Join(dir, "main.go")
	require.NoError(t, os.WriteFile(fixed, []byte("package main\n\nfunc main() {}\n"), 0o644))
	real, err := filepath.Abs("testdata/broken/main.go")
	require.NoError(t, err)
	overlay := filepath.Join(dir, "overlay.json")
	require.NoError(t, os.WriteFile(overlay, []byte(fmt.Sprintf(`{"Replace": {%q: %q}}`, real, fixed)), 0o644))

	require.NoError(t, BuildOverlay(context.Background(), "testdata/broken", filepath.Join(dir, "fixed"), false, overlay))
	require.FileExists(t, filepath.Join(dir, "fixed"))
	require.Error(t, Build(context.Background(), "testdata/broken", filepath.Join(dir, "broken"), false), "the source itself must still be broken")
}

func TestBuildTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	err := Build(ctx, "testdata/testserver", filepath.Join(t.TempDir(), "ts"), false)
	require.ErrorContains(t, err, "context deadline exceeded")
}

func TestOutputBuffer(t *testing.T) {
	tests := []struct {
		name   string
		limit  int
		writes []string
		want   string
		tail   string
	}{
		{"fits", 8, []string{"ab", "cd"}, "abcd", "bcd"},
		{"exactly full", 8, []string{"abcdefgh"}, "abcdefgh", "fgh"},
		{"head and tail", 8, []string{"abc", "defg", "hijklm"}, "abcd\n[... 5 bytes of output dropped ...]\njklm", "klm"},
		{"many small writes", 4, []string{"a", "b", "c", "d", "e", "f", "g"}, "ab\n[... 3 bytes of output dropped ...]\nfg", "fg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newOutputBuffer(tt.limit)
			for _, w := range tt.writes {
				n, err := b.Write([]byte(w))
				require.NoError(t, err)
				require.Equal(t, len(w), n)
			}
			require.Equal(t, tt.want, b.String())
			require.Equal(t, tt.tail, b.Tail(3))
		})
	}
}
