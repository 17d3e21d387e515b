package mutants

// chapter4 are the bugs of a prefork server: what a learner gets wrong writing chapter 4's steps, the master
// that passes its one socket to worker processes (prefork's Exec), reaps and replaces them, kills the silent
// ones, reloads them on SIGHUP and stops them on SIGTERM (prefork's Master, the reference answer to steps 2 to
// 6), what each worker tells the app (worker.go), and the counters shared across processes (package shared,
// step 7).
var chapter4 = []Mutant{
	// Step 1: one socket, passed on.
	{
		Name: "listener-closed-after-spawn", Chapter: 4, File: preforkExec,
		Old:     "\tw.Close()\n\tif err != nil {\n",
		New:     "\tw.Close()\n\te.Listener.Close() // the worker has its copy\n\tif err != nil {\n",
		Bug:     "The master closes its copy of the listening socket once a worker has inherited it, as it does the pipe's write end, so it has nothing to pass on to the next worker.",
		Shows:   "With -workers 3, one worker starts; the others cannot be started, and the master has one child instead of three.",
		Killers: []string{"4.1"},
	},

	// Step 2: reaped and replaced.
	{
		Name: "pipe-write-end-kept", Chapter: 4, File: preforkExec,
		Old:     "\tw.Close()\n\tif err != nil {\n\t\tr.Close()\n",
		New:     "\tif err != nil {\n\t\tw.Close()\n\t\tr.Close()\n",
		Bug:     "The master keeps its copy of the write end of each worker's heartbeat pipe, so the pipe never ends when the worker dies, and the death goes unnoticed.",
		Shows:   "kill -9 of a worker: the master never replaces it, and it stays a zombie.",
		Killers: []string{"4.7"},
	},
	{
		Name: "exited-worker-not-forgotten", Chapter: 4, File: preforkMaster,
		Old:     "\tdelete(m.workers, w.id)\n\tstatus := \"exit status 0\"\n",
		New:     "\tstatus := \"exit status 0\"\n",
		Bug:     "The master does not remove a worker that exited from its table, so it still counts it and starts none in its place.",
		Shows:   "kill -9 of a worker: the master logs its exit but starts no other, and runs one worker fewer.",
		Killers: []string{"4.7"},
	},

	// Step 3: SIGTERM, SIGTTIN and SIGTTOU.
	{
		Name: "listener-open-on-stop", Chapter: 4, File: preforkMaster,
		Old: `	if m.cfg.Listener != nil {
		m.cfg.Listener.Close()
	}
	for _, w := range m.sorted() {
		if w.stopping.IsZero() {
			m.retire(w, "the master is stopping")`,
		New: `	for _, w := range m.sorted() {
		if w.stopping.IsZero() {
			m.retire(w, "the master is stopping")`,
		Bug:     "On SIGTERM the master tells its workers to stop but keeps its copy of the listening socket open until it exits, so new connections are queued by the kernel and never answered.",
		Shows:   "SIGTERM while a request runs, then a new connection: it is accepted into the socket's queue and left without an answer, not refused.",
		Killers: []string{"4.13"},
	},
	{
		Name: "master-exits-before-workers", Chapter: 4, File: preforkMaster,
		Old:     "\tdeadline := time.After(grace)\n\tvar gaveUp <-chan time.Time\n",
		New:     "\treturn err // the workers have been told\n\tdeadline := time.After(grace)\n\tvar gaveUp <-chan time.Time\n",
		Bug:     "On SIGTERM the master exits as soon as it has told its workers to stop, without waiting for them.",
		Shows:   "SIGTERM while two GET /sleep?ms=800 run: the master is gone at once, and its workers are left running, orphans, until their requests end.",
		Killers: []string{"4.13"},
	},
	{
		Name: "stop-never-kills", Chapter: 4, File: preforkMaster,
		Old: `		case <-deadline:
			for _, w := range m.sorted() {
				m.log.Printf("worker %d (pid %d) did not stop within %v; killing it", w.id, w.pid, grace)
				m.kill(w)
			}
			gaveUp = time.After(killGrace)
`,
		New: `		case <-deadline:
			m.log.Printf("%d workers still running after %v; waiting for them", len(m.workers), grace)
`,
		Bug:     "On SIGTERM the master waits for its workers however long they take, never killing one still busy after -shutdown-timeout.",
		Shows:   "With -shutdown-timeout 2s, SIGTERM while GET /sleep?ms=20000 runs on a worker: the server exits after 20 s, not about 2 s.",
		Killers: []string{"4.13"},
	},

	// Step 4: heartbeats and the timeout.
	{
		Name: "beat-time-not-recorded", Chapter: 4, File: preforkMaster,
		Old:     "\t\tw.last = time.Now()\n\t\tif ev.b == Ready && !w.ready {\n",
		New:     "\t\tif ev.b == Ready && !w.ready {\n",
		Bug:     "The master reads the beats but does not note when each came, so it times every worker from its start and kills healthy ones every -timeout.",
		Shows:   "With -timeout 1s, a worker that beats and serves is killed (WORKER TIMEOUT) a second after it started, and requests fail under load.",
		Killers: []string{"4.8"},
	},
	{
		Name: "request-end-not-marked", Chapter: 4, File: launchPrefork,
		Old: `			token := w.Begin()
			defer w.End(token)
			return http1.Answer(bw, req, gw, app, closing)`,
		New: `			w.Begin()
			return http1.Answer(bw, req, gw, app, closing)`,
		Bug:     "A worker marks when each request begins but not when it ends, so after its first request it looks hung, stops beating, and is killed at -timeout.",
		Shows:   "With -timeout 1s, GET /hello, then a second later GET /sleep?ms=300 on the same worker: the worker has been killed in between, or is killed under the request.",
		Killers: []string{"4.8"},
	},
	{
		Name: "abort-never-killed", Chapter: 4, File: preforkMaster,
		Old: `			if now.Sub(w.aborted) > killGrace {
				m.kill(w)
			}
`,
		New:        "",
		Bug:        "A worker killed for its silence gets SIGABRT and never the SIGKILL that should follow.",
		Equivalent: "a Go worker exits on SIGABRT (the runtime dumps every goroutine's stack and exits with status 2), whatever its goroutines are doing, so the SIGKILL after it never finds one alive; a worker in another language that caught SIGABRT would tell.",
	},

	// Step 6: reload on SIGHUP.
	{
		Name: "sighup-not-caught", Chapter: 4, File: preforkServe,
		Old:     "signal.Notify(signals, syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU)",
		New:     "signal.Notify(signals, syscall.SIGTTIN, syscall.SIGTTOU)",
		Bug:     "The master does not catch SIGHUP, whose default action ends the process.",
		Shows:   "SIGHUP under load: the master dies, and the requests that follow fail.",
		Killers: []string{"4.10"},
	},
	{
		Name: "old-retired-before-new-ready", Chapter: 4, File: preforkMaster,
		Old:     "\tif !slices.ContainsFunc(cur, func(w *worker) bool { return !w.ready }) {\n",
		New:     "\tif len(cur) == m.want {\n",
		Bug:     "On SIGHUP the master stops the old workers as soon as it has started the new ones, not once they are ready, so nobody serves while they boot, and nobody at all when they fail to.",
		Shows:   "SIGHUP with new workers that take 600 ms to boot: for 600 ms no process accepts; and with a broken new version, the site goes down.",
		Killers: []string{"4.10"},
	},

	// Step 7: what the app is told, and shared data.
	{
		Name: "multithread-for-the-server", Chapter: 4, File: preforkWorker,
		Old:     "\tgw.MultiThread = pc.Threads > 1\n",
		New:     "\tgw.MultiThread = true // the server runs requests at once\n",
		Bug:     "Each worker says wsgi.multithread is true because the server as a whole runs requests at once, though with -threads 1 a worker runs one at a time.",
		Shows:   "With -workers 2 -threads 1, GET /env shows wsgi.multithread \"true\".",
		Killers: []string{"4.2"},
	},
	{
		Name: "multiprocess-false", Chapter: 4, File: preforkWorker,
		Old:     "\tgw.MultiProcess = pc.Workers > 1\n",
		New:     "\tgw.MultiProcess = false\n",
		Bug:     "Each worker leaves wsgi.multiprocess false, though other processes run the app at the same time.",
		Shows:   "With -workers 2, GET /env shows wsgi.multiprocess \"false\".",
		Killers: []string{"4.2"},
	},
	{
		Name: "flock-without-mutex", Chapter: 4, File: sharedShared,
		Old: `func (c *FileCounter) Add(n int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
`,
		New:     "func (c *FileCounter) Add(n int64) int64 {\n",
		Bug:     "The file counter's Add takes the file lock but not the worker's own mutex, so two threads of one worker, which share the lock, both read the count and write it plus one.",
		Shows:   "With -counter file -threads 4, 800 GET /counter from 8 clients raise it by less than 800.",
		Killers: []string{"4.5"},
	},
	{
		Name: "flock-shared-for-add", Chapter: 4, File: sharedShared,
		Old:     "\tmust(unix.Flock(c.fd, unix.LOCK_EX), \"flock\")\n",
		New:     "\tmust(unix.Flock(c.fd, unix.LOCK_SH), \"flock\")\n",
		Bug:     "The file counter's Add takes a shared lock, which any number of processes hold at once, so two workers both read the count and write it plus one.",
		Shows:   "With -counter file -workers 2, 800 GET /counter from 8 clients raise it by less than 800.",
		Killers: []string{"4.5"},
	},
	{
		Name: "shm-mapped-private", Chapter: 4, File: sharedShared,
		Old:     "unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)",
		New:     "unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)",
		Bug:     "The memory counter is mapped private, so each worker counts in a copy of its own that no other process sees.",
		Shows:   "With -counter shm -workers 2, 800 GET /counter from 8 clients raise each worker's count by about 400, not the one count by 800.",
		Killers: []string{"4.6"},
	},
}
