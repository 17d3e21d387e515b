package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"course/chapters/prefork/preforktest"
	"course/harness"
)

// Step 1: the listening socket, and a worker that inherits it.

func TestStep1Listen(t *testing.T) {
	t.Run("a new socket on addr", func(t *testing.T) {
		f, err := listen("127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen(127.0.0.1:0): %v", err)
		}
		defer f.Close()
		ln, err := net.FileListener(f)
		if err != nil {
			t.Fatalf("listen returned a file that is not a listening socket: %v", err)
		}
		defer ln.Close()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), wait)
		if err != nil {
			t.Fatalf("connecting to the socket listen returned: %v", err)
		}
		c.Close()
	})
	t.Run("the socket systemd passes at fd 3", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		// systemd sets LISTEN_PID to the pid of the process it starts; a shell that execs keeps its pid.
		// The address given to listen cannot be opened: the socket must come from fd 3.
		cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0"`, os.Args[0])
		cmd.Env = append(os.Environ(), listenProbe+"=no-such-host.invalid:80")
		cmd.ExtraFiles = []*os.File{f}
		out, err := cmd.CombinedOutput()
		got := strings.TrimSpace(string(out))
		if err != nil {
			t.Fatalf("started with LISTEN_PID=its pid, LISTEN_FDS=1 and a socket at fd 3, listen failed: %s", got)
		}
		want := fmt.Sprintf(`inode %d LISTEN_PID="" LISTEN_FDS=""`, fileInode(t, f))
		if got != want {
			t.Fatalf("started with LISTEN_PID=its pid, LISTEN_FDS=1 and a socket at fd 3:\n got: %s\nwant: %s\n"+
				"(listen must return the socket at fd 3, and unset both variables so that the workers do not take them for theirs)", got, want)
		}
		// Two sockets (LISTEN_FDS=2, at fd 3 and 4): this server listens on one, and says so.
		cmd = exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=2 exec "$0"`, os.Args[0])
		cmd.Env = append(os.Environ(), listenProbe+"=no-such-host.invalid:80")
		cmd.ExtraFiles = []*os.File{f, f}
		out, err = cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("started with LISTEN_FDS=2 (two sockets, at fd 3 and 4), listen returned %s; want an error: this server "+
				"listens on one socket", strings.TrimSpace(string(out)))
		}
	})
}

func TestStep1Spawn(t *testing.T) {
	f, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer f.Close()
	app, err := os.CreateTemp(t.TempDir(), "app-file")
	if err != nil {
		t.Fatal(err)
	}
	app.WriteString("hello\n")
	app.Seek(0, io.SeekStart)
	defer app.Close()

	// The worker is a shell script that checks what it inherited, says it is ready, and exits.
	script := `
		[ -S /dev/fd/3 ] || { echo "fd 3 is not the listening socket"; exit 11; }
		[ -p /dev/fd/4 ] || { echo "fd 4 is not the write end of a pipe"; exit 12; }
		read line </dev/fd/5 && [ "$line" = hello ] || { echo "fd 5 is not the first of Files"; exit 13; }
		[ "$PREFORK_FD" = 3 ] || { echo "PREFORK_FD=$PREFORK_FD, want 3"; exit 14; }
		[ "$PREFORK_HEARTBEAT_FD" = 4 ] || { echo "PREFORK_HEARTBEAT_FD=$PREFORK_HEARTBEAT_FD, want 4"; exit 15; }
		[ "$PREFORK_WORKER" = 7 ] || { echo "PREFORK_WORKER=$PREFORK_WORKER, want 7 (the id given to Spawn)"; exit 16; }
		[ "$PREFORK_BEAT_MS" = 250 ] || { echo "PREFORK_BEAT_MS=$PREFORK_BEAT_MS, want 250 (Beat)"; exit 17; }
		[ -n "$STEP1_INHERITED" ] || { echo "the worker does not inherit the master's environment"; exit 18; }
		printf R >&4
		exit "$1"`
	t.Setenv("STEP1_INHERITED", "yes")
	out := &strings.Builder{}
	var mu sync.Mutex
	s := &spawner{Listener: f, Beat: 250 * time.Millisecond, Files: []*os.File{app}}
	s.Path, s.Args = "/bin/sh", []string{"-c", script, "worker", "0"}
	s.Stdout, s.Stderr = lockedWriter{&mu, out}, lockedWriter{&mu, out}

	p, err := s.Spawn(7)
	if err != nil {
		t.Fatalf("Spawn(7): %v", err)
	}
	beats := readAll(t, p.Beats())
	err = p.Wait()
	mu.Lock()
	said := strings.TrimSpace(out.String())
	mu.Unlock()
	if err != nil {
		t.Fatalf("the worker exited with %v: %s", err, said)
	}
	if beats != "R" {
		t.Fatalf("the master read %q on the heartbeat pipe, want %q (what the worker wrote on fd 4)", beats, "R")
	}
	if !preforktest.Nonblocking(t, f) {
		t.Fatalf("after Spawn, the listening socket is in blocking mode: the other workers' accept would block in the kernel, " +
			"where no stop reaches it (README: \"The socket's mode is shared too\")")
	}

	s.Args = []string{"-c", script, "worker", "3"}
	p, err = s.Spawn(7)
	if err != nil {
		t.Fatalf("Spawn(7): %v", err)
	}
	readAll(t, p.Beats())
	if err := p.Wait(); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("a worker that exits with status 3: Wait returned %v, want an error that says exit status 3", err)
	}
}

// readAll reads r to its end, which must come within wait.
func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(r)
		done <- result{b, err}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			t.Fatalf("reading the heartbeat pipe: %v", res.err)
		}
		return string(res.b)
	case <-time.After(wait):
		t.Fatalf("the heartbeat pipe did not reach its end %v after the worker exited: close the master's copy of "+
			"its write end once the worker has started (only then does the read end see end of file)", wait)
		return ""
	}
}

// lockedWriter serializes the writes of the worker's stdout and stderr.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestStep1Worker(t *testing.T) {
	bin := program(t)
	f, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a duplicate: the socket stays open in f

	s := &spawner{Listener: f, Beat: 100 * time.Millisecond}
	s.Path, s.Args = bin, []string{"-addr", addr}
	p, err := s.Spawn(1)
	if err != nil {
		t.Fatalf("Spawn(1) of %s: %v", filepath.Base(bin), err)
	}
	defer p.Signal(syscall.SIGKILL)
	beats := bufio.NewReader(p.Beats())
	first := make(chan byte, 1)
	go func() {
		b, _ := beats.ReadByte()
		first <- b
	}()
	select {
	case b := <-first:
		if b != 'R' {
			t.Fatalf("the worker's first byte on the heartbeat pipe is %q, want 'R'", b)
		}
	case <-time.After(wait):
		t.Fatalf("the worker did not say it was ready within %v", wait)
	}
	c, err := harness.Dial(addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := whoAnswers(t, c); got.PID != p.Pid() || got.Worker != "1" {
		t.Fatalf("GET /pid on the socket: %+v, want pid %d (the worker) and worker \"1\"", got, p.Pid())
	}
	c.Close()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	readAll(t, beats)
	if err := p.Wait(); err != nil {
		t.Fatalf("the worker exited with %v after SIGTERM, want status 0", err)
	}
}
