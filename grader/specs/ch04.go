package specs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"course/grader/spec"
	"course/harness"
	"course/harness/load"
)

// readme4 is the chapter 4 README, to which each of its specs points.
const readme4 = "chapters/04-prefork/README.md"

// The chapter 4 server's own flags: two workers serving one connection at a time, a timeout short enough
// that a worker notices its master's death within a second (it beats every quarter of it).
const (
	workers4  = 2
	timeout4  = "4s"
	shutdown4 = "2s"
)

// settingsFile returns the path of a settings file for one prefork server of this run: a spec writes it to
// slow down or break the boot of the workers started after, and removes it when it is done. It does not
// exist until then, which a worker takes for no settings. The grader's pid and a count in its name keep
// each run's and each server's apart.
func settingsFile() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("prefork-%d-%d.settings", os.Getpid(), settingsSeq.Add(1)))
}

var settingsSeq atomic.Int64

func chapter4() *Chapter {
	return &Chapter{
		Number: 4,
		Slug:   "04-prefork",
		Title:  "prefork",
		Flags:  append(flags1(), "-workers", strconv.Itoa(workers4), "-timeout", timeout4, "-shutdown-timeout", shutdown4),
		// The server is built with the race detector: a master's state is easily shared, unguarded, by the
		// goroutines that watch its workers.
		Race: true,
		// The reference answers to chapter 4's steps: package prefork's Listen, Exec and master; package
		// shared's counters.
		Reference: []string{"prefork.Listen(", "prefork.Exec", "prefork.New(", "shared.OpenFileCounter(", "shared.OpenMemoryCounter("},
		Specs:     append(correctness1(nil), prefork4()...),
	}
}

// prefork4 returns the specs of chapter 4's own lesson: a master, workers that are processes, and what the
// master does for them.
func prefork4() []spec.Spec {
	bootSettings, reloadSettings := settingsFile(), settingsFile()
	return []spec.Spec{
		{
			ID: "4.1", Title: "-workers processes share the master's one socket", Points: 3, Timeout: 10 * time.Second,
			Flags: []string{"-workers", "3", "-threads", "1"},
			Why:   readme4 + "#step-1-one-socket-one-worker",
			Hint:  "the master opens the listening socket once and starts -workers processes, each inheriting it.",
			Repro: "ps f -o pid,ppid,args --ppid $(pgrep -n -f -- '-addr {addr}'); ss -ltnp 'sport = :{port}'",
			Cases: map[string]spec.Case{
				"the process tree": {
					Hint:  "the master must start exactly -workers worker processes as its own children (os/exec), and keep them running: with -workers 3, three children.",
					Repro: "ps f -o pid,ppid,args --ppid $(pgrep -n -f -- '-addr {addr}')   # with -workers 3: three children",
				},
				"one listening socket, held by every process": {
					Hint:  "open the listening socket once, in the master, and pass it to each worker at fd 3 (cmd.ExtraFiles); a worker must not open a socket of its own: a socket's queue of waiting connections dies with it.",
					Repro: "ss -ltnp 'sport = :{port}'   # one LISTEN line, every pid of the server in its users",
				},
				"workers answer, the master does not": {
					Hint:  "the workers accept and serve; the master only manages them. With -threads 1 each worker serves one connection at a time: three connections kept open are served by the three workers.",
					Repro: "for i in 1 2 3; do curl -s http://{addr}/pid; echo; done",
				},
			},
			Check: checkProcessTree,
		},
		{
			ID: "4.2", Title: "wsgi.multiprocess is true, wsgi.multithread false", Points: 1,
			Flags: []string{"-workers", "2", "-threads", "1"},
			Why:   readme4 + "#what-the-app-is-told",
			Hint:  "with several workers another process may run the app at the same time: set wsgi.multiprocess to true (gateway.Server.MultiProcess), as gunicorn does when workers > 1; with -threads 1 a worker runs one request at a time: wsgi.multithread stays false.",
			Repro: "curl -s http://{addr}/env | grep -o '\"wsgi.multi[a-z]*\":\"[a-z]*\"'   # with -workers 2 -threads 1",
			Check: checkMultiFlags(map[string]string{"wsgi.multiprocess": "true", "wsgi.multithread": "false"}),
		},
		{
			ID: "4.3", Title: "-threads 4: wsgi.multithread is true too", Points: 1,
			Flags: []string{"-workers", "2", "-threads", "4"},
			Why:   readme4 + "#what-the-app-is-told",
			Hint:  "with -threads above 1 a worker runs several requests at once on its goroutines: set wsgi.multithread to true (gateway.Server.MultiThread) as well as wsgi.multiprocess.",
			Repro: "curl -s http://{addr}/env | grep -o '\"wsgi.multi[a-z]*\":\"[a-z]*\"'   # with -workers 2 -threads 4",
			Check: checkMultiFlags(map[string]string{"wsgi.multiprocess": "true", "wsgi.multithread": "true"}),
		},
		{
			ID: "4.4", Title: "nothing is shared: each worker counts its own", Points: 1,
			Flags: []string{"-workers", "2", "-threads", "1"},
			Why:   readme4 + "#sharing-data-between-processes",
			Hint:  "each worker is a process of its own, with its own memory: by default (-counter local) its /counter counts the requests that it served, and nothing else.",
			Repro: "(printf 'GET /counter HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n'; sleep 0.2; printf 'GET /counter HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n'; sleep 0.5) | nc {host} {port} & curl -s http://{addr}/counter; wait",
			Check: checkLocalCounter,
		},
		{
			ID: "4.5", Title: "-counter file: no lost update across workers and threads", Points: 2, Timeout: 15 * time.Second,
			Flags: []string{"-workers", "2", "-threads", "4", "-counter", "file"},
			Why:   readme4 + "#a-file-under-a-lock",
			Hint:  "every increment must hold an exclusive lock on the counter's file while it reads and writes the value.",
			Repro: "for c in $(seq 8); do (for i in $(seq 100); do curl -s -o /dev/null http://{addr}/counter; done) & done; wait; curl -s http://{addr}/counter   # 801 with -counter file",
			Cases: map[string]spec.Case{
				"across workers": {Hint: "every increment must hold an exclusive lock on the counter's file while it reads and writes the value. A flock lock " +
					"belongs to an open file description, which an inherited descriptor shares with every other worker: open the file anew in each " +
					"worker (/proc/self/fd/5) so that the lock excludes the others."},
				"across the threads of one worker": {Hint: "the threads of one worker share its open file description, and so its flock lock: a second " +
					"exclusive lock on a description that holds one succeeds at once, and the first unlock releases it for both. Keep a worker's " +
					"threads apart with an in-process lock (a mutex) held around the file lock."},
			},
			Check: checkSharedCounter4,
		},
		{
			ID: "4.6", Title: "-counter shm: no lost update across workers and threads", Points: 2, Timeout: 15 * time.Second,
			Flags: []string{"-workers", "2", "-threads", "4", "-counter", "shm"},
			Why:   readme4 + "#shared-memory",
			Hint:  "map the counter's 8 bytes shared (mmap with MAP_SHARED) in every worker and increment them with one atomic add (sync/atomic): a load, an add and a store are three steps that another process, or another thread, can come between.",
			Repro: "for c in $(seq 8); do (for i in $(seq 100); do curl -s -o /dev/null http://{addr}/counter; done) & done; wait; curl -s http://{addr}/counter   # 801 with -counter shm",
			Check: checkSharedCounter4,
		},
		{
			ID: "4.7", Title: "a worker killed or crashed is replaced within 1s", Points: 3, Timeout: 15 * time.Second,
			Flags: []string{"-workers", "2", "-threads", "1"},
			Why:   readme4 + "#step-2-n-workers-reaped-and-replaced",
			Hint:  "when a worker exits, however it exits, the master reaps it (its Wait) and starts another in its place at once.",
			Repro: "ps --ppid $(pgrep -n -f -- '-addr {addr}') -o pid=; kill -9 $(ps --ppid $(pgrep -n -f -- '-addr {addr}') -o pid= | head -1); sleep 0.5; ps --ppid $(pgrep -n -f -- '-addr {addr}') -o pid=,stat=",
			Cases: map[string]spec.Case{
				"kill -9": {Hint: "when a worker exits, however it exits (here kill -9), the master must notice at once (the end of its heartbeat pipe, or its Wait returning) and start another in its place; the other worker must go on serving undisturbed."},
				"GET /crash": {
					Hint:  "a worker that crashes (GET /crash exits at once) must be replaced at once, like one killed; the other worker must go on serving undisturbed.",
					Repro: "curl -s http://{addr}/crash; sleep 0.5; ps --ppid $(pgrep -n -f -- '-addr {addr}') -o pid=,stat=",
				},
			},
			Check: checkRespawn,
		},
		{
			ID: "4.8", Title: "a hung worker is killed after -timeout, and logged", Points: 3, Timeout: 20 * time.Second,
			Flags: []string{"-workers", "2", "-threads", "1", "-timeout", "1s"},
			Why:   readme4 + "#step-4-heartbeats-and-the-timeout",
			Hint:  "the master kills a worker it has not heard from (no beat) for -timeout, and logs which worker and why.",
			Repro: "curl -s 'http://{addr}/sleep?ms=5000'   # with -timeout 1s: an empty reply after about 1s, and a line in the master's log",
			Cases: map[string]spec.Case{
				"a request shorter than -timeout": {
					Hint:  "a request shorter than -timeout must be left to finish: kill a worker only after -timeout of silence, not at the first missed beat (beats stop while a request runs longer than a beat).",
					Repro: "curl -s 'http://{addr}/sleep?ms=300'   # with -timeout 1s: slept 300 ms",
				},
				"a worker idle after its requests": {
					Hint:  "a worker must note when each request ends as well as when it begins: one that counts a finished request as running stops beating as if hung, and the master kills it though it is idle.",
					Repro: "curl -s http://{addr}/pid; curl -s 'http://{addr}/sleep?ms=300'; sleep 2.5; pgrep -P $(pgrep -of -- '-addr {addr}')   # with -workers 2 -timeout 1s: the worker that answered is still there",
				},
				"a sleeping request": {
					Hint: "a worker whose request runs past -timeout stops beating; the master must notice the silence, kill the worker (SIGABRT, then SIGKILL) and log a line with its pid and the reason (a timeout), as gunicorn's WORKER TIMEOUT (pid:N). A worker that beats from a timer whatever its requests do would hide the hang.",
				},
				"a CPU loop": {
					Hint:  "a request that burns the CPU past -timeout must be killed too: the beats must stop because a request is too old, not because the worker cannot run them.",
					Repro: "curl -s 'http://{addr}/cpu?ms=5000'   # with -timeout 1s: an empty reply after about 1s",
				},
			},
			Check: checkHungWorker,
		},
		{
			ID: "4.9", Title: "workers that cannot boot stop the master", Points: 2, Timeout: 15 * time.Second,
			Flags: []string{"-workers", "2", "-threads", "1", "-settings", bootSettings},
			Stops: true,
			Why:   readme4 + "#step-5-workers-that-cannot-boot",
			Hint:  "a worker that exits before it said it was ready failed to boot; after a few such failures in a row, stop the workers and exit with an error status and a message that says the workers fail to boot, instead of starting new ones forever.",
			Repro: "echo broken > " + bootSettings + "; kill -9 $(ps --ppid $(pgrep -n -f -- '-addr {addr}') -o pid=); sleep 2; pgrep -f -- '-addr {addr}' || echo the master exited",
			Check: checkBootFailures(bootSettings),
		},
		{
			ID: "4.10", Title: "SIGHUP under load: new workers first, zero failed", Points: 3, Timeout: 25 * time.Second, Stops: true,
			Flags: []string{"-workers", "2", "-threads", "4", "-settings", reloadSettings},
			Why:   readme4 + "#step-6-reload-on-sighup",
			Hint:  "on SIGHUP start new workers and let the old ones serve until the new ones are ready; then SIGTERM the old ones, which finish their requests. Never close the listening socket.",
			Repro: "go run ./harness/cmd/load -retry -c 8 -d 3s http://{addr}/hello & sleep 1; kill -HUP $(pgrep -n -f -- '-addr {addr}'); wait",
			Cases: map[string]spec.Case{
				"zero failed requests": {Hint: "no request may fail during a reload: the old workers stop accepting, finish their requests in flight (answered with Connection: close), close their idle connections and exit, while the socket, held by the master and the new workers, keeps queueing new connections."},
				"new workers first":    {Hint: "the old workers must go on serving until every new worker has said it is ready: a new worker takes a while to boot (here 600ms), and one that fails to boot must not leave nobody serving."},
				"only new workers afterwards": {
					Hint:  "once the new workers are ready, the old ones must be told to stop (SIGTERM) and exit.",
					Repro: "ps --ppid $(pgrep -n -f -- '-addr {addr}') -o pid=; kill -HUP $(pgrep -n -f -- '-addr {addr}'); sleep 1; ps --ppid $(pgrep -n -f -- '-addr {addr}') -o pid=",
				},
				"the same listening socket": {
					Hint:  "never close the listening socket on a reload, and never open another: the connections waiting in its queue would be reset (gunicorn#2409). The master keeps its one socket, and the new workers inherit it.",
					Repro: "ss -ltne 'sport = :{port}'; kill -HUP $(pgrep -n -f -- '-addr {addr}'); sleep 1; ss -ltne 'sport = :{port}'   # the same ino",
				},
				"a new version that cannot boot": {
					Hint:  "when the new workers fail to boot, give up the reload and keep the old workers serving: a broken deployment must not take the site down.",
					Repro: "echo broken > " + reloadSettings + "; kill -HUP $(pgrep -n -f -- '-addr {addr}'); sleep 1; curl -s http://{addr}/pid",
				},
				"a stop after a reload that failed": {
					Hint: "after a reload whose new workers could not boot, SIGTERM must still stop the server at once when no request " +
						"runs. The listening socket's non-blocking mode belongs to the socket, shared by every process that holds it: a " +
						"master that hands it to a new worker in blocking mode, and a worker that dies before it sets it back, leave the " +
						"other workers' accept blocked in the kernel, where a stop cannot reach it.",
					Repro: "echo broken > " + reloadSettings + "; kill -HUP $(pgrep -n -f -- '-addr {addr}'); sleep 1; curl -s http://{addr}/pid; " +
						"time (kill -TERM $(pgrep -n -f -- '-addr {addr}'); while pgrep -f -- '-addr {addr}' >/dev/null; do sleep 0.1; done)   # at once, not -shutdown-timeout",
				},
			},
			Check: checkReload(reloadSettings),
		},
		{
			ID: "4.11", Title: "SIGTTIN adds a worker, SIGTTOU removes one", Points: 2, Timeout: 10 * time.Second,
			Flags: []string{"-workers", "2", "-threads", "1"},
			Why:   readme4 + "#step-3-sigterm-sigttin-and-sigttou",
			Hint:  "catch SIGTTIN and SIGTTOU (signal.Notify): one worker more, one fewer.",
			Repro: "kill -TTIN $(pgrep -n -f -- '-addr {addr}'); sleep 0.5; ps --ppid $(pgrep -n -f -- '-addr {addr}') -o pid=",
			Cases: map[string]spec.Case{
				"SIGTTIN": {Hint: "catch SIGTTIN (signal.Notify: its default action stops the process, as Ctrl-Z does) and start one worker more."},
				"SIGTTOU": {
					Hint:  "catch SIGTTOU and stop one worker, the oldest, with SIGTERM, without replacing it; never go below one worker.",
					Repro: "kill -TTOU $(pgrep -n -f -- '-addr {addr}'); sleep 1; ps --ppid $(pgrep -n -f -- '-addr {addr}') -o pid=",
				},
			},
			Check: checkScale,
		},
		{
			ID: "4.12", Title: "-max-requests: workers recycle, zero failed", Points: 2, Timeout: 20 * time.Second,
			Flags: []string{"-workers", "2", "-threads", "1", "-max-requests", "100", "-max-requests-jitter", "20"},
			Why:   readme4 + "#recycling-workers",
			Hint:  "a worker that reached -max-requests answers its last request with Connection: close, stops accepting, finishes and exits with status 0; the master starts another in its place, and no request fails.",
			Repro: "go run ./harness/cmd/load -c 4 -n 1200 -H 'Connection: close' http://{addr}/hello   # with -max-requests 100: no error",
			Check: checkRecycle,
		},
		// Two workers of two threads: room for the idle connection, the two requests in flight and the one that
		// runs past -shutdown-timeout, each on a thread of its own.
		shutdownSpec(stopPlan{id: "4.13", why: readme4 + "#step-3-sigterm-sigttin-and-sigttou", idle: 1, inFlight: 2,
			shutdownTimeout: 2 * time.Second, flags: []string{"-workers", "2", "-threads", "2"}}),
		{
			ID: "4.14", Title: "the master killed, its workers exit too", Points: 2, Timeout: 10 * time.Second,
			Flags: []string{"-workers", "2", "-threads", "1"}, Stops: true,
			Why:   readme4 + "#when-the-master-dies",
			Hint:  "a worker must notice that its master is gone (a beat write fails with EPIPE, or getppid changes) and stop as on SIGTERM: nobody would ever stop or replace it.",
			Repro: "kill -9 $(pgrep -n -f -- '-addr {addr}'); sleep 3; pgrep -f -- '-addr {addr}' || echo no orphans",
			Check: checkOrphans,
		},
	}
}

// waitFor polls cond every 20 ms until it holds or d passes, and reports whether it held.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// children waits up to d until the master has n live children, and returns them.
func children(t *spec.T, n int, d time.Duration, while string) []int {
	var kids []int
	if waitFor(d, func() bool { kids = harness.Children(t.Server().Pid()); return len(kids) == n }) {
		return kids
	}
	t.Fatalf("%s: the master (pid %d) has %d child processes %v after %v, want %d", while, t.Server().Pid(), len(kids), kids, d, n)
	return nil
}

// pidOf asks GET /pid on c and returns the pid that answered.
func pidOf(t *spec.T, c *harness.Conn) int {
	req := get("/pid")
	r := roundTrip(t, c, req, `200 OK and {"pid":P,"worker":"W"}`)
	wantStatus(t, r, req, 200)
	var p struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal(r.Body, &p); err != nil || p.PID == 0 {
		t.Fatalf("%s: the body %q is not the JSON /pid sends", firstLine(req), r.Body)
	}
	return p.PID
}

// holdWorkers dials n connections and asks /pid on each, keeping them open: with -threads 1 a worker
// serves one connection at a time, so n connections are n different workers. It returns the connections
// and their pids.
func holdWorkers(t *spec.T, n int) ([]*harness.Conn, []int) {
	conns := make([]*harness.Conn, n)
	pids := make([]int, n)
	for i := range conns {
		conns[i] = t.Dial()
		pids[i] = pidOf(t, conns[i])
		if slices.Contains(pids[:i], pids[i]) {
			t.Fatalf("connections %d and %d, both kept open, were answered by the same process %d: with -threads 1 a worker "+
				"serves one connection at a time, so each should be served by a worker of its own", slices.Index(pids, pids[i])+1, i+1, pids[i])
		}
	}
	return conns, pids
}

// writeSettings writes the settings file path, which the workers started after read as they boot.
func writeSettings(t *spec.T, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatalf("writing the settings file %s: %v", path, err)
	}
}

func checkProcessTree(t *spec.T) {
	const n = 3 // the spec's -workers
	var kids []int
	t.Run("the process tree", func(t *spec.T) {
		kids = children(t, n, 3*time.Second, "with -workers 3")
	})
	if kids == nil {
		return
	}
	t.Run("workers answer, the master does not", func(t *spec.T) {
		_, pids := holdWorkers(t, n)
		for _, pid := range pids {
			if pid == t.Server().Pid() {
				t.Errorf("the master (pid %d) answered GET /pid: the master must not serve; the workers do", pid)
			} else if !slices.Contains(kids, pid) {
				t.Errorf("GET /pid was answered by pid %d, which is not a child of the master %v", pid, kids)
			}
		}
	})
	t.Run("one listening socket, held by every process", func(t *spec.T) {
		inodes, err := harness.ListeningSockets(t.Server().Port())
		if err != nil {
			t.Fatalf("reading the listening sockets: %v", err)
		}
		if len(inodes) != 1 {
			t.Fatalf("%d sockets listen on port %d, want 1: the master opens the socket once and the workers inherit it; "+
				"sockets of their own (SO_REUSEPORT) each have a queue, lost when its worker exits", len(inodes), t.Server().Port())
		}
		holders := harness.SocketHolders(inodes[0], append([]int{t.Server().Pid()}, kids...))
		if _, ok := holders[t.Server().Pid()]; !ok {
			t.Errorf("the master (pid %d) holds no descriptor of the listening socket: it opens the socket and keeps it open, "+
				"so that it outlives every worker (and a reload)", t.Server().Pid())
		}
		for _, pid := range kids {
			if _, ok := holders[pid]; !ok {
				t.Errorf("worker pid %d holds no descriptor of the listening socket (inode %d): it must inherit it from the master", pid, inodes[0])
			}
		}
	})
}

// checkMultiFlags checks the wsgi.* flags of the environ.
func checkMultiFlags(want map[string]string) func(t *spec.T) {
	return func(t *spec.T) {
		req := get("/env")
		r := roundTrip(t, t.Dial(), req, "200 OK and an environ with "+strings.Join(pickPairs(want), ", "))
		wantStatus(t, r, req, 200)
		t.Diff(firstLine(req)+": unexpected wsgi.* flags in the environ", want, pick(environ(t, r, req), keys(want)))
	}
}

// pickPairs returns "name value" for each entry of m, sorted.
func pickPairs(m map[string]string) []string {
	var out []string
	for _, k := range keys(m) {
		out = append(out, k+" "+m[k])
	}
	return out
}

// counterValue asks GET /counter on c and returns the value.
func counterValue(t *spec.T, c *harness.Conn) int64 {
	req := get("/counter")
	r := roundTrip(t, c, req, "200 OK and the counter's new value")
	wantStatus(t, r, req, 200)
	v, err := strconv.ParseInt(strings.TrimSpace(string(r.Body)), 10, 64)
	if err != nil {
		t.Fatalf("%s: the body %q is not a number", firstLine(req), r.Body)
	}
	return v
}

func checkLocalCounter(t *spec.T) {
	const rounds = 5
	conns, pids := holdWorkers(t, 2)
	var got [2][]int64
	for range rounds {
		for i, c := range conns {
			got[i] = append(got[i], counterValue(t, c))
		}
	}
	t.Logf("worker %d counted %v, worker %d %v", pids[0], got[0], pids[1], got[1])
	for i := range conns {
		for k := 1; k < rounds; k++ {
			if got[i][k] != got[i][k-1]+1 {
				t.Fatalf("the worker pid %d answered GET /counter with %v while the other worker (pid %d) answered %v, in turns: "+
					"with -counter local each worker has a counter of its own, which counts its own requests only",
					pids[i], got[i], pids[1-i], got[1-i])
			}
		}
	}
}

// sharedConns is how many connections checkSharedCounter4 increments on at once: with -workers 2 -threads 4,
// several on each worker, more than its four threads.
const sharedConns = 12

// checkSharedCounter4 checks a counter shared by the workers twice: first with one connection per worker,
// so that no worker runs two increments at once (what is lost is lost between workers), then with several
// connections per worker, which its threads serve at once. Each connection is kept alive, so one worker
// serves all its requests: a value answered twice by one worker is an update lost between its threads.
func checkSharedCounter4(t *spec.T) {
	conns, pids := spreadOverWorkers(t, sharedConns)
	t.Run("across workers", func(t *spec.T) {
		var one []*harness.Conn // one connection per worker
		var onePids []int
		for i, c := range conns {
			if !slices.Contains(onePids, pids[i]) {
				one, onePids = append(one, c), append(onePids, pids[i])
			}
		}
		r := incrementAtOnce(t, one, onePids, 400)
		if r.lost != 0 {
			t.Errorf("one connection on each of %d workers, so that each ran one increment at a time: %s; %s repeated a value "+
				"that another worker had answered: two workers read the value before either wrote it", len(one), r, plural(r.twoWorkers, "answer"))
		}
	})
	t.Run("across the threads of one worker", func(t *spec.T) {
		r := incrementAtOnce(t, conns, pids, 300)
		switch {
		case r.sameWorker > 0:
			t.Errorf("%d connections on %d workers: %s; %s repeated a value that another request on the same worker had got: "+
				"two of its threads read the value before either wrote it", len(conns), r.workers, r, plural(r.sameWorker, "answer"))
		case r.lost != 0:
			t.Errorf("%d connections on %d workers: %s: increments were lost", len(conns), r.workers, r)
		}
	})
}

// increments is what incrementAtOnce saw.
type increments struct {
	requests, before, after int64
	lost                    int64
	workers                 int // how many workers the connections were on
	sameWorker, twoWorkers  int // values answered twice, by one worker or by two
}

func (r increments) String() string {
	return fmt.Sprintf("%d GET /counter moved the counter from %d to %d, up by %d", r.requests, r.before, r.after, r.after-r.before-1)
}

// incrementAtOnce sends each GET /counter on each connection, all connections at once, and counts what was
// lost; pids are the workers serving the connections.
func incrementAtOnce(t *spec.T, conns []*harness.Conn, pids []int, each int) increments {
	r := increments{requests: int64(len(conns) * each), workers: len(slices.Compact(slices.Sorted(slices.Values(pids))))}
	r.before = counterValue(t, conns[0])
	values := make([][]int64, len(conns))
	problems := make([]string, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			for range each {
				if err := c.SendString(get("/counter")); err != nil {
					problems[i] = fmt.Sprintf("connection %d: GET /counter: %s", i+1, harness.DescribeNetError(err))
					return
				}
				resp, err := c.ReadResponse(answerWait, false)
				if err != nil {
					problems[i] = fmt.Sprintf("connection %d: GET /counter: %s", i+1, harness.DescribeNetError(err))
					return
				}
				v, err := strconv.ParseInt(strings.TrimSpace(string(resp.Body)), 10, 64)
				if resp.Status != 200 || err != nil {
					problems[i] = fmt.Sprintf("connection %d: GET /counter: got %s %q, want 200 OK and a number", i+1, status(resp), resp.Body)
					return
				}
				values[i] = append(values[i], v)
			}
		})
	}
	wg.Wait()
	if problems := slices.DeleteFunc(problems, func(p string) bool { return p == "" }); len(problems) > 0 {
		t.Fatalf("%s", strings.Join(problems, "; "))
	}
	r.after = counterValue(t, conns[0])
	r.lost = r.before + r.requests + 1 - r.after
	seen := map[int64]int{} // the pid that answered each value first
	for i, vs := range values {
		for _, v := range vs {
			switch pid, ok := seen[v]; {
			case !ok:
				seen[v] = pids[i]
			case pid == pids[i]:
				r.sameWorker++
			default:
				r.twoWorkers++
			}
		}
	}
	t.Note(fmt.Sprintf("%d connections on %d workers: %s", len(conns), r.workers, r))
	return r
}

// spreadOverWorkers waits until two workers answer, then dials n connections, one after the other, and
// asks /pid on each, keeping them open, until they are served by at least two workers. It returns the
// connections and the pid serving each. (A worker that runs several requests at once keeps accepting: the
// kernel gives each new connection to one of the workers waiting on the socket, and a worker still
// booting waits on nothing.)
func spreadOverWorkers(t *spec.T, n int) ([]*harness.Conn, []int) {
	const within = 5 * time.Second
	seen := map[int]bool{}
	for start := time.Now(); len(seen) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > within {
			t.Fatalf("for %v every new connection was served by the same process %v: with -workers 2 both workers should serve", within, slices.Collect(maps.Keys(seen)))
		}
		c := t.Dial()
		seen[pidOf(t, c)] = true
		c.Close()
	}
	var conns []*harness.Conn
	var pids []int
	for len(conns) < n || len(slices.Compact(slices.Sorted(slices.Values(pids)))) < 2 {
		if len(conns) == 4*n {
			t.Fatalf("%d connections kept open were all served by pid %d: with -workers 2 each worker should take some", len(conns), pids[0])
		}
		c := t.Dial()
		conns = append(conns, c)
		pids = append(pids, pidOf(t, c))
	}
	return conns, pids
}

// serving sends GET /hello on c every 20 ms until stop is closed, and returns the failures it saw: a worker
// left alone must serve on.
func serving(t *spec.T, c *harness.Conn, stop <-chan struct{}) <-chan []string {
	out := make(chan []string, 1)
	go func() {
		var failures []string
		defer func() { out <- failures }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if err := c.SendString(get("/hello")); err != nil {
				failures = append(failures, harness.DescribeNetError(err))
				return
			}
			if r, err := c.ReadResponse(answerWait, false); err != nil {
				failures = append(failures, harness.DescribeNetError(err))
				return
			} else if r.Status != 200 {
				failures = append(failures, status(r))
			}
		}
	}()
	return out
}

func checkRespawn(t *spec.T) {
	const within = time.Second
	for _, how := range []string{"kill -9", "GET /crash"} {
		t.Run(how, func(t *spec.T) {
			kids := children(t, 2, 3*time.Second, "with -workers 2")
			conns, pids := holdWorkers(t, 2)
			victim, other := pids[0], pids[1]
			stop := make(chan struct{})
			failures := serving(t, conns[1], stop)
			start := time.Now()
			if how == "kill -9" {
				if err := harness.SignalPid(victim, syscall.SIGKILL); err != nil {
					t.Fatalf("%v", err)
				}
			} else {
				conns[0].SendString(get("/crash"))
			}
			// A new connection: the surviving worker is busy with its own, so only a new worker can answer.
			c := t.Dial()
			send(t, c, get("/pid"), "200 OK from a new worker within 1s")
			r, err := c.ReadResponse(3*time.Second, false)
			took := time.Since(start)
			close(stop)
			if err != nil {
				t.Fatalf("after %s of worker pid %d, a new connection got no answer within %v: %v; the master must start "+
					"another worker in its place", how, victim, 3*time.Second, err)
			}
			var p struct {
				PID int `json:"pid"`
			}
			json.Unmarshal(r.Body, &p)
			t.Note(fmt.Sprintf("%s: a new worker (pid %d) answered %v after worker %d died", how, p.PID, took.Round(time.Millisecond), victim))
			switch {
			case p.PID == victim || p.PID == other || slices.Contains(kids, p.PID):
				t.Errorf("after %s of worker pid %d, pid %d answered: want a new worker", how, victim, p.PID)
			case took > within:
				t.Errorf("a new worker answered %v after %s of worker pid %d, want within %v", took.Round(time.Millisecond), how, victim, within)
			}
			if f := <-failures; len(f) > 0 {
				t.Errorf("the other worker (pid %d), on its own connection, failed %d requests while worker %d died: %s",
					other, len(f), victim, strings.Join(f, "; "))
			}
			if !waitFor(time.Second, func() bool { return !slices.Contains(harness.Zombies(t.Server().Pid()), victim) }) {
				t.Errorf("the dead worker (pid %d) is a zombie: the master must reap it (wait for it: cmd.Wait)", victim)
			}
		})
	}
}

// servedIdle is how long 4.8 leaves a worker idle after its requests: past its -timeout of 1s, with the margin of
// a loaded machine.
const servedIdle = 2500 * time.Millisecond

func checkHungWorker(t *spec.T) {
	served := 0
	t.Run("a request shorter than -timeout", func(t *spec.T) {
		c := t.Dial()
		served = pidOf(t, c)
		req := sleepReq(300)
		r := roundTrip(t, c, req, "200 OK: 300 ms is within -timeout 1s")
		wantStatus(t, r, req, 200)
	})
	if served != 0 {
		t.Run("a worker idle after its requests", func(t *spec.T) {
			time.Sleep(servedIdle)
			if !slices.Contains(harness.Children(t.Server().Pid()), served) {
				t.Fatalf("worker %d served GET /pid and GET /sleep?ms=300, then sat idle; %v later it is gone, though it had "+
					"nothing to do: a worker must mark the end of each request, or it looks busy with a finished one, stops "+
					"beating, and is killed at -timeout 1s", served, servedIdle)
			}
		})
	}
	for _, tc := range []struct{ name, target string }{
		{"a sleeping request", "/sleep?ms=6000"},
		{"a CPU loop", "/cpu?ms=6000"},
	} {
		t.Run(tc.name, func(t *spec.T) {
			children(t, 2, 3*time.Second, "with -workers 2")
			c := t.Dial()
			hung := pidOf(t, c)
			req := get(tc.target)
			send(t, c, req, "the connection closed without an answer about 1s after the request (-timeout 1s), its worker killed")
			start := time.Now()
			r, err := c.ReadResponse(8*time.Second, false)
			took := time.Since(start).Round(time.Millisecond)
			var re *harness.ReadError
			switch {
			case err == nil:
				t.Fatalf("%s: got %s after %v: the worker should have been killed after -timeout 1s", firstLine(req), status(r), took)
			case errors.As(err, &re) && re.Timeout():
				t.Fatalf("%s: no answer and the connection still open after %v: the worker should have been killed after -timeout 1s", firstLine(req), took)
			case took < 900*time.Millisecond:
				t.Fatalf("%s: the connection closed after %v, before -timeout 1s", firstLine(req), took)
			case took > 4*time.Second:
				t.Errorf("%s: the connection closed after %v, want about 1s (-timeout 1s)", firstLine(req), took)
			}
			t.Note(fmt.Sprintf("%s: worker %d killed %v after its request", tc.name, hung, took))
			if alive := harness.WaitGone([]int{hung}, 3*time.Second); len(alive) > 0 {
				t.Fatalf("the hung worker (pid %d) still runs", hung)
			}
			children(t, 2, 3*time.Second, "after the hung worker was killed")
			// The output comes through a pipe the harness reads on its own goroutine: on a loaded machine the
			// line may still be on its way.
			var line string
			waitFor(2*time.Second, func() bool {
				line = logLine(t.Server().Output(), strconv.Itoa(hung), "timeout", "timed out", "heartbeat", "silent", "hung", "stuck")
				return line != ""
			})
			if line == "" {
				t.Errorf("no line of the server's output names the killed worker's pid %d with the reason (a timeout): "+
					"the log must say which worker was killed, and why; the output's last lines:\n%s", hung, lastLines(t.Server().Output(), 8))
			} else {
				t.Logf("logged: %s", line)
			}
		})
	}
}

// lastLines returns the last n lines of out, indented.
func lastLines(out string, n int) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return "    " + strings.Join(lines[max(len(lines)-n, 0):], "\n    ")
}

// logLine returns the first line of out that holds needle and one of the words, or "".
func logLine(out, needle string, words ...string) string {
	for line := range strings.SplitSeq(out, "\n") {
		lower := strings.ToLower(line)
		if !containsWord(line, needle) {
			continue
		}
		for _, w := range words {
			if strings.Contains(lower, w) {
				return strings.TrimSpace(line)
			}
		}
	}
	return ""
}

// containsWord reports whether s holds the number n not as part of a longer number.
func containsWord(s, n string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], n)
		if j < 0 {
			return false
		}
		j += i
		before, after := j == 0 || !isDigit(s[j-1]), j+len(n) == len(s) || !isDigit(s[j+len(n)])
		if before && after {
			return true
		}
		i = j + 1
	}
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func checkBootFailures(settings string) func(t *spec.T) {
	return func(t *spec.T) { bootFailures(t, settings) }
}

func bootFailures(t *spec.T, settings string) {
	defer os.Remove(settings)
	kids := children(t, 2, 3*time.Second, "with -workers 2")
	writeSettings(t, settings, "this line is not a setting\n")
	for _, pid := range kids {
		harness.SignalPid(pid, syscall.SIGKILL)
	}
	killed := time.Now()
	const within = 5 * time.Second
	if !waitFor(within, func() bool { done, _ := t.Server().Exited(); return done }) {
		t.Fatalf("%v after both workers were killed and their replacements could not boot, the master still runs with %d "+
			"children: it must give up after a few boot failures in a row, not start new workers forever",
			within, len(harness.Children(t.Server().Pid())))
	}
	_, how := t.Server().Exited()
	t.Note(fmt.Sprintf("the master gave up %v after the workers were killed (%s)", time.Since(killed).Round(time.Millisecond), how))
	if how == "exit status 0" {
		t.Errorf("the master exited with status 0: a server that gives up must exit with an error status, for systemd or a shell to see")
	}
	if !strings.Contains(strings.ToLower(t.Server().Output()), "boot") {
		t.Errorf("the master's output does not say that the workers fail to boot: a clear message saves a confused operator")
	}
}

// probe is one GET /pid on a new connection during a reload.
type probe struct {
	at   time.Duration // since the probing began
	took time.Duration
	pid  int
	err  error
}

// probing sends GET /pid on a new connection every 50 ms until stop is closed, and returns what each got.
func probing(addr string, stop <-chan struct{}) <-chan []probe {
	out := make(chan []probe, 1)
	go func() {
		var ps []probe
		defer func() { out <- ps }()
		begin := time.Now()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			p := probe{at: time.Since(begin)}
			start := time.Now()
			p.pid, p.err = onePid(addr)
			p.took = time.Since(start)
			ps = append(ps, p)
		}
	}()
	return out
}

// onePid asks GET /pid on a connection of its own, closed after.
func onePid(addr string) (int, error) {
	c, err := harness.Dial(addr, 3*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := c.SendString(get("/pid", "Connection: close")); err != nil {
		return 0, err
	}
	r, err := c.ReadResponse(3*time.Second, false)
	if err != nil {
		return 0, err
	}
	var p struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal(r.Body, &p); r.Status != 200 || err != nil {
		return 0, fmt.Errorf("got %s %q", status(r), r.Body)
	}
	return p.PID, nil
}

// bootDelay is how long the new workers of the reload spec take to boot.
const bootDelay = 600 * time.Millisecond

func checkReload(settings string) func(t *spec.T) {
	return func(t *spec.T) { reload(t, settings) }
}

func reload(t *spec.T, settings string) {
	defer os.Remove(settings)
	old := children(t, 2, 3*time.Second, "with -workers 2")
	inodes, _ := harness.ListeningSockets(t.Server().Port())

	var res *load.Result
	var probes []probe
	t.Run("zero failed requests", func(t *spec.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan struct{})
		var err error
		go func() {
			defer close(done)
			res, err = load.Run(ctx, load.Config{Addr: t.Addr(), Conns: 8, Duration: 3 * time.Second, Requests: 1_000_000,
				Request: []byte(get("/hello")), Timeout: 3 * time.Second, Retry: true})
		}()
		stop := make(chan struct{})
		probed := probing(t.Addr(), stop)
		time.Sleep(500 * time.Millisecond)
		writeSettings(t, settings, fmt.Sprintf("boot_delay = %v\n", bootDelay))
		if err := t.Server().Signal(syscall.SIGHUP); err != nil {
			close(stop)
			t.Fatalf("%v", err)
		}
		<-done
		close(stop)
		probes = <-probed
		if err != nil {
			t.Fatalf("the load generator: %v", err)
		}
		failed := int64(0)
		for _, n := range res.Errors {
			failed += n
		}
		for code, n := range res.Status {
			if code != 200 {
				failed += n
			}
		}
		t.Note(fmt.Sprintf("during the reload: %d requests on 8 connections, %d failed, %d retried (a kept-alive connection "+
			"closed before any byte of the answer, RFC 9112 9.3.1)", res.Requests, failed, res.Retries))
		if failed > 0 {
			t.Errorf("%d of %d requests failed during the reload (errors %v, statuses %v): want none", failed, res.Requests+failed, res.Errors, res.Status)
		}
	})
	if res == nil {
		return
	}
	t.Run("new workers first", func(t *spec.T) {
		for _, p := range probes {
			switch {
			case p.err != nil:
				t.Errorf("GET /pid on a new connection, %v into the reload: %s", p.at.Round(time.Millisecond), harness.DescribeNetError(p.err))
			case p.took > bootDelay*2/3:
				t.Errorf("GET /pid on a new connection took %v, %v into the reload: nobody was accepting while the new workers "+
					"booted (%v): the old workers must serve until the new ones are ready", p.took.Round(time.Millisecond), p.at.Round(time.Millisecond), bootDelay)
			}
			if t.Failed() {
				return
			}
		}
	})
	var now []int
	t.Run("only new workers afterwards", func(t *spec.T) {
		now = children(t, 2, 3*time.Second, "after the reload")
		for _, pid := range now {
			if slices.Contains(old, pid) {
				t.Fatalf("after the reload the master's children are %v: the old worker %d is still there", now, pid)
			}
		}
		if alive := harness.WaitGone(old, time.Second); len(alive) > 0 {
			t.Fatalf("the old workers %v still run after the reload", alive)
		}
		for range 5 {
			pid, err := onePid(t.Addr())
			if err != nil {
				t.Fatalf("GET /pid after the reload: %s", harness.DescribeNetError(err))
			}
			if !slices.Contains(now, pid) {
				t.Fatalf("GET /pid after the reload was answered by pid %d, not one of the new workers %v", pid, now)
			}
		}
	})
	t.Run("the same listening socket", func(t *spec.T) {
		after, err := harness.ListeningSockets(t.Server().Port())
		if err != nil {
			t.Fatalf("reading the listening sockets: %v", err)
		}
		if !slices.Equal(inodes, after) {
			t.Errorf("the listening socket changed during the reload (inodes %v before, %v after): connections waiting in the old "+
				"socket's queue were reset when it closed (gunicorn#2409); keep the one socket open", inodes, after)
		}
	})
	if now == nil {
		return
	}
	t.Run("a new version that cannot boot", func(t *spec.T) {
		writeSettings(t, settings, "this line is not a setting\n")
		if err := t.Server().Signal(syscall.SIGHUP); err != nil {
			t.Fatalf("%v", err)
		}
		hup := time.Now()
		for time.Since(hup) < 1500*time.Millisecond {
			if done, how := t.Server().Exited(); done {
				t.Fatalf("the master exited (%s) %v after a SIGHUP whose new workers could not boot: keep the old workers serving",
					how, time.Since(hup).Round(time.Millisecond))
			}
			pid, err := onePid(t.Addr())
			if err != nil {
				t.Fatalf("GET /pid %v after a SIGHUP whose new workers cannot boot: %s; the old workers must serve on",
					time.Since(hup).Round(time.Millisecond), harness.DescribeNetError(err))
			}
			if !slices.Contains(now, pid) {
				t.Fatalf("GET /pid answered by pid %d, not one of the workers that served before this reload %v", pid, now)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("a stop after a reload that failed", func(t *spec.T) {
		// The old workers have taken connections since the new ones failed to boot; now they are idle.
		if err := t.Server().Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("%v", err)
		}
		term := time.Now()
		if !waitFor(stopAtOnce, func() bool { done, _ := t.Server().Exited(); return done }) {
			t.Fatalf("the master was still running %v after SIGTERM, with no request in flight, after a reload whose new workers "+
				"could not boot: a worker blocked in accept cannot stop (is the listening socket still non-blocking?)",
				time.Since(term).Round(time.Millisecond))
		}
	})
}

func checkScale(t *spec.T) {
	children(t, 2, 3*time.Second, "with -workers 2")
	master := t.Server().Pid()
	stopped := func(t *spec.T, sig string) {
		if harness.State(master) == 'T' {
			t.Fatalf("the master is stopped (state T) after %s: the default action of SIGTTIN and SIGTTOU is to stop a process "+
				"(as Ctrl-Z does); catch them with signal.Notify", sig)
		}
	}
	t.Run("SIGTTIN", func(t *spec.T) {
		if err := t.Server().Signal(syscall.SIGTTIN); err != nil {
			t.Fatalf("%v", err)
		}
		time.Sleep(100 * time.Millisecond)
		stopped(t, "SIGTTIN")
		children(t, 3, 3*time.Second, "after SIGTTIN")
		if _, pids := holdWorkers(t, 3); len(pids) != 3 {
			t.Fatalf("three workers should serve")
		}
	})
	t.Run("SIGTTOU", func(t *spec.T) {
		before := harness.Children(master)
		if err := t.Server().Signal(syscall.SIGTTOU); err != nil {
			t.Fatalf("%v", err)
		}
		time.Sleep(100 * time.Millisecond)
		stopped(t, "SIGTTOU")
		want := max(len(before)-1, 1)
		children(t, want, 3*time.Second, "after SIGTTOU")
		time.Sleep(300 * time.Millisecond)
		if n := len(harness.Children(master)); n != want {
			t.Errorf("after SIGTTOU the master has %d workers, then %d: the worker stopped must not be replaced", want, n)
		}
	})
}

func checkRecycle(t *spec.T) {
	before := children(t, 2, 3*time.Second, "with -workers 2")
	// A new connection for every request, as a client of gunicorn's sync worker makes: a worker that exits
	// with a connection accepted and not answered, or a request read and not answered, has no excuse (a
	// kept-alive connection closed before its answer would be retried).
	res, err := load.Run(context.Background(), load.Config{Addr: t.Addr(), Conns: 4, Requests: 1200, Duration: 15 * time.Second,
		Request: []byte(get("/hello", "Connection: close")), Timeout: 3 * time.Second, Retry: true})
	if err != nil {
		t.Fatalf("the load generator: %v", err)
	}
	failed := int64(0)
	for _, n := range res.Errors {
		failed += n
	}
	for code, n := range res.Status {
		if code != 200 {
			failed += n
		}
	}
	after := children(t, 2, 3*time.Second, "after 1200 requests")
	replaced := 0
	for _, pid := range before {
		if !slices.Contains(after, pid) {
			replaced++
		}
	}
	t.Note(fmt.Sprintf("1200 requests with -max-requests 100, each on a new connection: %d failed; workers %v became %v",
		failed, before, after))
	if failed > 0 {
		t.Errorf("%d of %d requests failed while the workers recycled (errors %v, statuses %v): want none; a worker at its "+
			"last request answers it with Connection: close, stops accepting and finishes before it exits", failed, res.Requests+failed, res.Errors, res.Status)
	}
	if replaced < 2 {
		t.Errorf("after 1200 requests with -max-requests 100 the workers are %v, were %v: each should have been replaced", after, before)
	}
	if res.Requests < 1200 && failed == 0 {
		t.Errorf("only %d of 1200 requests were answered within 15s", res.Requests)
	}
}

func checkOrphans(t *spec.T) {
	kids := children(t, 2, 3*time.Second, "with -workers 2")
	// Both workers answer first: a worker whose master dies before it has said it is ready fails to boot,
	// flawed or not.
	holdWorkers(t, 2)
	if err := t.Server().Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("%v", err)
	}
	const within = 3 * time.Second
	if alive := harness.WaitGone(kids, within); len(alive) > 0 {
		t.Errorf("%v after kill -9 of their master, workers %v still run: a worker must notice that its master is gone "+
			"(its beat write fails with EPIPE, or getppid changes) and stop", within, alive)
	}
}
