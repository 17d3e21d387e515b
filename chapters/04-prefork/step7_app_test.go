package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"course/harness"
)

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

// The shared counters run twice: openCounter itself in two processes of four goroutines each, which shows a
// lost update between threads as well as between processes at once; then in the whole server, as two
// workers of one thread, then of four.
func TestStep7Counters(t *testing.T) {
	for _, kind := range []string{"local", "file", "shm"} {
		t.Run("-counter "+kind, func(t *testing.T) {
			if kind != "local" {
				t.Run("openCounter in 2 processes of 4 goroutines", func(t *testing.T) { counterProbes(t, kind) })
			}
			for _, threads := range []string{"1", "4"} {
				if kind == "local" && threads == "4" {
					continue
				}
				t.Run("-workers 2 -threads "+threads, func(t *testing.T) { countersServed(t, kind, threads) })
			}
		})
	}
}

// counterProbe names the variable that makes this test program a probe of openCounter: it opens the counter
// of the kind the variable names, on fd 5 as a worker does, calls Add(1) from probeThreads goroutines at
// once for probeFor, and prints how many calls it made. With "value:" before the kind, it prints the
// counter's Value instead.
const counterProbe = "PREFORK_STEPS_COUNTER_PROBE"

const (
	probeThreads = 4
	probeFor     = 300 * time.Millisecond // long enough for two processes started one after the other to overlap
)

// runCounterProbe is the probe's side.
func runCounterProbe(mode string) {
	kind, value := strings.CutPrefix(mode, "value:")
	c, err := openCounter(kind)
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	if value {
		fmt.Println(c.Value())
		return
	}
	var stop atomic.Bool
	time.AfterFunc(probeFor, func() { stop.Store(true) })
	calls := make([]int64, probeThreads)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			for !stop.Load() {
				c.Add(1)
				calls[i]++
			}
		})
	}
	wg.Wait()
	var n int64
	for _, k := range calls {
		n += k
	}
	fmt.Println(n)
}

// counterProbes makes the counter's file with counterFiles, as the master does, and runs two probes on it at
// once, as two workers of four threads; then a third reads the counter's value.
func counterProbes(t *testing.T, kind string) {
	files, err := counterFiles(kind)
	if err != nil {
		t.Fatalf("counterFiles(%q): %v", kind, err)
	}
	if len(files) != 1 {
		t.Fatalf("counterFiles(%q) returned %d files, want 1: the file that holds the shared value, which every worker gets at fd 5", kind, len(files))
	}
	defer files[0].Close()
	probe := func(mode string) (int64, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		// A program built with the race detector sleeps a second as it exits, unless told not to.
		cmd.Env = append(os.Environ(), counterProbe+"="+mode, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
		cmd.ExtraFiles = []*os.File{nil, nil, files[0]} // fd 5; fds 3 and 4 closed
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("openCounter(%q) in a process with the file at fd 5: %v: %s", kind, err, out)
		}
		return strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	}
	const procs = 2
	calls := make([]int64, procs)
	errs := make([]error, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() { calls[i], errs[i] = probe(kind) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got, err := probe("value:" + kind)
	if err != nil {
		t.Fatal(err)
	}
	if want := calls[0] + calls[1]; got != want {
		why := "A flock lock excludes another open file description (another process's, if each opens the file anew), never " +
			"the goroutines of the process that holds it, which share its description: they need a mutex too"
		if kind == "shm" {
			why = "An increment of shared memory must be one atomic add (sync/atomic): a load, an add and a store are three " +
				"steps, between which another process or goroutine can come"
		}
		t.Errorf("%d processes called Add(1) from %d goroutines each, all at once, %d times in all, and the counter's value is %d: "+
			"%d increments were lost. %s", procs, probeThreads, want, got, want-got, why)
	}
}

// countersServed runs the server with -counter kind, two workers of threads threads, and counts on it from
// several connections at once.
func countersServed(t *testing.T, kind, threads string) {
	const each = 200
	srv := startMaster(t, "-workers", "2", "-threads", threads, "-counter", kind)
	workers(t, srv, 2, "-workers 2")
	var cs []*harness.Conn
	if threads == "1" {
		// With -threads 1 a worker serves one connection at a time: two connections that stay open are
		// served by the two workers.
		a, b := dial(t, srv), dial(t, srv)
		if pa, pb := whoAnswers(t, a).PID, whoAnswers(t, b).PID; pa == pb {
			t.Fatalf("both connections are served by pid %d; want one worker each", pa)
		}
		cs = []*harness.Conn{a, b}
	} else {
		for range 8 {
			cs = append(cs, dial(t, srv))
		}
	}
	conns := len(cs)
	values := make([][]int64, conns)
	problems := make([]error, conns)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			for range each {
				n, err := counterOn(c)
				if err != nil {
					problems[i] = err
					return
				}
				values[i] = append(values[i], n)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(problems...); err != nil {
		t.Fatal(err)
	}
	all := slices.Sorted(slices.Values(slices.Concat(values...)))
	last := all[len(all)-1]
	if kind == "local" {
		if last != each {
			t.Errorf("with -counter local each worker counts its own requests: the last value is %d, want %d", last, each)
		}
		return
	}
	n := int64(conns * each)
	if distinct := len(slices.Compact(all)); last != n || int64(distinct) != n {
		t.Errorf("with -counter %s -threads %s, %d connections counted %d requests as %d (%d different values): increments were lost",
			kind, threads, conns, n, last, distinct)
	}
}

// counterOn sends GET /counter on c and returns the value of the answer.
func counterOn(c *harness.Conn) (int64, error) {
	if err := c.Send(harness.Request("GET", "/counter")); err != nil {
		return 0, fmt.Errorf("GET /counter: %w", err)
	}
	r, err := c.ReadResponse(wait, false)
	if err != nil {
		return 0, fmt.Errorf("GET /counter: %w", err)
	}
	if r.Status != 200 {
		return 0, fmt.Errorf("GET /counter: got %d %s, want 200", r.Status, r.Reason)
	}
	return strconv.ParseInt(strings.TrimSpace(string(r.Body)), 10, 64)
}
