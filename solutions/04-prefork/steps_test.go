package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"course/chapters/prefork/preforktest"
	"course/harness"
)

// The tests of the chapter's steps, one step at a time (README, "The steps"):
//
//	make check CHAPTER=4 STEP=2      # or: go test -run '^TestStep2' ./chapters/04-prefork
//
// Steps 2 to 6 test the master twice: with pretend workers (package preforktest), which shows each rule
// on its own and quickly, then for real, with this chapter's program as the master and its workers.

// listenProbe names the variable that makes this test program a probe of listen (TestStep1Listen): it
// calls listen with the variable's value and prints what it got.
const listenProbe = "PREFORK_STEPS_LISTEN_PROBE"

func TestMain(m *testing.M) {
	if addr, ok := os.LookupEnv(listenProbe); ok {
		f, err := listen(addr)
		if err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(1)
		}
		var st syscall.Stat_t
		syscall.Fstat(int(f.Fd()), &st)
		fmt.Printf("inode %d LISTEN_PID=%q LISTEN_FDS=%q\n", st.Ino, os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

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

// Step 2: N workers, reaped and replaced.

func TestStep2Respawn(t *testing.T) { preforktest.Respawn(t, yours) }

func TestStep2Real(t *testing.T) {
	srv := startMaster(t, "-workers", "3")
	kids := workers(t, srv, 3, "-workers 3")
	seen := map[int]bool{}
	for range 30 {
		p := oneShot(t, srv)
		if !slices.Contains(kids, p.PID) {
			t.Fatalf("GET /pid was answered by pid %d, which is not one of the master's children %v", p.PID, kids)
		}
		seen[p.PID] = true
	}
	if len(seen) < 2 {
		t.Logf("only pid %v answered 30 requests: the kernel chose the same worker each time", seen)
	}
	if err := harness.SignalPid(kids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for {
		now := harness.Children(srv.Pid())
		if len(now) == 3 && !slices.Contains(now, kids[0]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after kill -9 of worker pid %d, the master's children are %v: want 3 again, a new one in its place", kids[0], now)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if z := harness.Zombies(srv.Pid()); len(z) > 0 {
		time.Sleep(200 * time.Millisecond)
		if z = harness.Zombies(srv.Pid()); len(z) > 0 {
			t.Fatalf("the killed worker is a zombie (pids %v): the master must wait for its children (cmd.Wait)", z)
		}
	}
}

// Step 3: stop on SIGTERM, one worker more or less on SIGTTIN and SIGTTOU.

func TestStep3Stop(t *testing.T)  { preforktest.Stop(t, yours) }
func TestStep3Scale(t *testing.T) { preforktest.Scale(t, yours) }

func TestStep3Real(t *testing.T) {
	srv := startMaster(t, "-workers", "2", "-shutdown-timeout", "2s")
	kids := workers(t, srv, 2, "-workers 2")
	srv.Signal(syscall.SIGTTIN)
	workers(t, srv, 3, "after SIGTTIN")
	srv.Signal(syscall.SIGTTOU)
	workers(t, srv, 2, "after SIGTTOU")
	kids = harness.Children(srv.Pid())

	c := dial(t, srv)
	if err := c.Send(harness.Request("GET", "/sleep?ms=500")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	srv.Signal(syscall.SIGTERM)
	r, err := c.ReadResponse(wait, false)
	if err != nil || r.Status != 200 {
		t.Fatalf("GET /sleep?ms=500, in flight when SIGTERM came: %v %v, want 200: a worker finishes its requests before it exits", r, err)
	}
	if how := exitWithin(t, srv, wait); how != "exit status 0" {
		t.Errorf("the master exited with %s after SIGTERM, want exit status 0", how)
	}
	if alive := harness.WaitGone(kids, time.Second); len(alive) > 0 {
		t.Errorf("workers %v still run after the master exited", alive)
	}
}

// Step 4: heartbeats, and the timeout.

func TestStep4Timeout(t *testing.T) { preforktest.Timeout(t, yours) }

func TestStep4Real(t *testing.T) {
	srv := startMaster(t, "-workers", "1", "-timeout", "1s")
	workers(t, srv, 1, "-workers 1")
	c := dial(t, srv)
	hung := whoAnswers(t, c).PID
	if err := c.Send(harness.Request("GET", "/sleep?ms=6000")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r, err := c.ReadResponse(10*time.Second, false)
	took := time.Since(start)
	if err == nil {
		t.Fatalf("GET /sleep?ms=6000 with -timeout 1s got %d after %v: the master must kill a worker whose request runs past the timeout", r.Status, took.Round(time.Millisecond))
	}
	if took < 900*time.Millisecond || took > 4*time.Second {
		t.Errorf("the hung worker's connection ended %v after the request, want about 1s (-timeout 1s)", took.Round(time.Millisecond))
	}
	if alive := harness.WaitGone([]int{hung}, wait); len(alive) > 0 {
		t.Fatalf("the hung worker (pid %d) is still running", hung)
	}
	if p := oneShot(t, srv); p.PID == hung {
		t.Fatalf("GET /pid answered by the hung worker %d", hung)
	}
	out := strings.ToLower(srv.Output())
	if !strings.Contains(out, strconv.Itoa(hung)) || !strings.Contains(out, "timeout") && !strings.Contains(out, "timed out") {
		t.Errorf("the master's log must say which worker (pid %d) was killed, and why (a timeout):\n%s", hung, srv.Output())
	}
}

// Step 5: workers that cannot boot.

func TestStep5BootFailures(t *testing.T) { preforktest.BootFailures(t, yours) }

func TestStep5Real(t *testing.T) {
	// A deployment breaks the app's settings, and both workers die: the new ones cannot boot.
	settings := filepath.Join(t.TempDir(), "settings")
	srv := startMaster(t, "-workers", "2", "-settings", settings)
	kids := workers(t, srv, 2, "-workers 2")
	if err := os.WriteFile(settings, []byte("this is not a setting\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, pid := range kids {
		harness.SignalPid(pid, syscall.SIGKILL)
	}
	how := exitWithin(t, srv, wait)
	if how == "exit status 0" {
		t.Errorf("the master exited with status 0 though no worker could boot: exit with an error status")
	}
	if out := strings.ToLower(srv.Output()); !strings.Contains(out, "boot") {
		t.Errorf("the master's output must say that the workers fail to boot:\n%s", srv.Output())
	}
}

// Step 6: reload on SIGHUP.

func TestStep6Reload(t *testing.T) { preforktest.Reload(t, yours) }

func TestStep6Real(t *testing.T) {
	settings := filepath.Join(t.TempDir(), "settings")
	if err := os.WriteFile(settings, []byte("boot_delay = 300ms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startMaster(t, "-workers", "2", "-settings", settings)
	before := workers(t, srv, 2, "-workers 2")
	inode := listeningInode(t, srv)
	srv.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(wait)
	for {
		now := harness.Children(srv.Pid())
		if len(now) == 2 && !slices.Contains(now, before[0]) && !slices.Contains(now, before[1]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v after SIGHUP the master's children are %v; want 2 new workers in place of %v", wait, now, before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := listeningInode(t, srv); got != inode {
		t.Fatalf("the listening socket changed during the reload (inode %d, then %d): the master must keep the one socket open, "+
			"or connections waiting in its queue are reset", inode, got)
	}
	if p := oneShot(t, srv); slices.Contains(before, p.PID) {
		t.Fatalf("GET /pid answered by an old worker %d after the reload", p.PID)
	}
}

// Step 7: what the app is told, and a counter the workers share.

func TestStep7Flags(t *testing.T) {
	for _, tt := range []struct {
		threads string
		want    map[string]string
	}{
		{"1", map[string]string{"wsgi.multiprocess": "true", "wsgi.multithread": "false"}},
		{"4", map[string]string{"wsgi.multiprocess": "true", "wsgi.multithread": "true"}},
	} {
		t.Run("-threads "+tt.threads, func(t *testing.T) {
			srv := startMaster(t, "-workers", "2", "-threads", tt.threads)
			c := dial(t, srv)
			env := map[string]string{}
			if err := json.Unmarshal(get(t, c, "/env").Body, &env); err != nil {
				t.Fatalf("GET /env: %v", err)
			}
			for k, v := range tt.want {
				if env[k] != v {
					t.Errorf("with -workers 2 -threads %s, %s is %q, want %q", tt.threads, k, env[k], v)
				}
			}
		})
	}
}

func TestStep7Counters(t *testing.T) {
	const each = 200
	for _, kind := range []string{"local", "file", "shm"} {
		t.Run("-counter "+kind, func(t *testing.T) {
			srv := startMaster(t, "-workers", "2", "-threads", "1", "-counter", kind)
			workers(t, srv, 2, "-workers 2")
			// With -threads 1 a worker serves one connection at a time: two connections that stay open are
			// served by the two workers.
			a, b := dial(t, srv), dial(t, srv)
			if pa, pb := whoAnswers(t, a).PID, whoAnswers(t, b).PID; pa == pb {
				t.Fatalf("both connections are served by pid %d; want one worker each", pa)
			}
			values := make([][]int64, 2)
			var wg sync.WaitGroup
			for i, c := range []*harness.Conn{a, b} {
				wg.Go(func() {
					for range each {
						n, err := strconv.ParseInt(strings.TrimSpace(string(get(t, c, "/counter").Body)), 10, 64)
						if err != nil {
							t.Error(err)
							return
						}
						values[i] = append(values[i], n)
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			last := max(values[0][each-1], values[1][each-1])
			if kind == "local" {
				if last != each {
					t.Errorf("with -counter local each worker counts its own requests: the last value is %d, want %d", last, each)
				}
				return
			}
			all := slices.Sorted(slices.Values(slices.Concat(values...)))
			if last != 2*each || len(slices.Compact(all)) != 2*each {
				t.Errorf("with -counter %s, 2 workers counted %d requests as %d (%d different values): increments were lost", kind, 2*each, last, len(slices.Compact(all)))
			}
		})
	}
}
