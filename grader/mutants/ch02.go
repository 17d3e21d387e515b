package mutants

// chapter2 are the bugs of a threaded server: what a learner gets wrong writing chapter 2's steps, the
// goroutine per connection and its wait group (conns.go), the pool of workers and its bounded queue, queue
// timeout, run timeout and close (pool.go, whose reference answer is chapters/pool's Pool with its gate and
// watchdog), the shared counter and wsgi.multithread (shared.go), the order of the shutdown (main.go); and in
// the given code that turns the pool's errors into 503 and 504 (pool.Answer) and that ends a connection on
// shutdown (http1).
var chapter2 = []Mutant{
	// Step 1: a goroutine per connection.
	{
		Name: "connection-served-inline", Chapter: 2, File: threadedConns,
		Old: `		go func() {
			defer wg.Done()
			handle(conn)
		}()
`,
		New: `		func() {
			defer wg.Done()
			handle(conn)
		}()
`,
		Bug:     "The accept loop serves each connection itself instead of on a goroutine of its own, so the next connection waits in the backlog.",
		Shows:   "Eight GET /sleep?ms=500 on eight connections at once take 4 s, not 0.5 s.",
		Killers: []string{"2.1"},
	},
	{
		Name: "wg-add-in-goroutine", Chapter: 2, File: threadedConns,
		Old: `		wg.Add(1)
		go func() {
			defer wg.Done()
`,
		New: `		go func() {
			wg.Add(1)
			defer wg.Done()
`,
		Bug:     "A connection's goroutine counts itself in the wait group, so the shutdown's Wait can run before it has.",
		Shows:   "SIGTERM just after a connection was accepted: the server may exit under the request in flight, which gets no answer.",
		Killers: []string{"2.9"},
	},

	// Step 5: the wait for the connections on shutdown.
	{
		Name: "shutdown-waits-forever", Chapter: 2, File: threadedConns,
		Old:     "\tselect {\n\tcase <-done:\n",
		New:     "\t<-done // every request in flight, however long it takes\n\tselect {\n\tcase <-done:\n",
		Bug:     "On SIGTERM the server waits for every request in flight, however long, ignoring -shutdown-timeout.",
		Shows:   "With -shutdown-timeout 2s, SIGTERM while GET /sleep?ms=20000 runs: the server exits after 20 s, not 2 s.",
		Killers: []string{"2.9"},
	},
	{
		Name: "shutdown-always-waits-grace", Chapter: 2, File: threadedConns,
		Old:     "\tselect {\n\tcase <-done:\n\tcase <-time.After(grace):\n",
		New:     "\tselect {\n\tcase <-time.After(grace):\n",
		Bug:     "On SIGTERM the server waits out -shutdown-timeout even when every request in flight has ended long before.",
		Shows:   "With -shutdown-timeout 2s and no request in flight, SIGTERM: the server exits after 2 s, not at once.",
		Killers: []string{"2.9"},
	},
	{
		Name: "pool-closed-on-signal", Chapter: 2, File: threadedMain,
		Old: `	err = serveConns(ctx, ln, func(conn net.Conn) { conns.ServeConn(ctx, conn) }, pc.ShutdownTimeout)

	// The pool is closed after the connections, so that the requests still in its queue were served.
	stop, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := workers.Close(stop); err != nil {
		log.Printf("shutdown: closing the worker pool: %v", err)
	}
`,
		New: `	go func() {
		<-ctx.Done() // SIGTERM: the pool stops with the listener
		stop, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := workers.Close(stop); err != nil {
			log.Printf("shutdown: closing the worker pool: %v", err)
		}
	}()
	err = serveConns(ctx, ln, func(conn net.Conn) { conns.ServeConn(ctx, conn) }, pc.ShutdownTimeout)
`,
		Bug:     "The pool is closed as soon as SIGTERM comes, not after the connections, so the requests waiting in its queue are refused.",
		Shows:   "With -workers 4, SIGTERM while six GET /sleep?ms=400 are in flight: the two waiting for a worker get 503, where the reference answers all six 200.",
		Killers: []string{"2.9"},
	},

	// Step 2: the workers and the bound on the pool.
	{
		Name: "admit-one-short", Chapter: 2, File: poolGate,
		Old:     `if held > int64(g.cfg.Workers+g.cfg.Queue) {`,
		New:     `if held >= int64(g.cfg.Workers+g.cfg.Queue) {`,
		Bug:     "The pool refuses a job when it holds Workers+Queue jobs with it, one too soon.",
		Shows:   "With -workers 2 -queue 2, four slow requests at once get three 200s and a 503; the pool holds four.",
		Killers: []string{"2.3"},
	},
	{
		Name: "admit-check-then-add", Chapter: 2, File: poolGate,
		Old: `	held := g.held.Add(1)
	if held > int64(g.cfg.Workers+g.cfg.Queue) {
		g.held.Add(-1)
		return 0, ErrFull
	}
`,
		New: `	if g.held.Load() > int64(g.cfg.Workers+g.cfg.Queue) {
		return 0, ErrFull
	}
	held := g.held.Add(1)
`,
		Bug:     "The count of jobs is checked, then raised, so the pool takes one job too many, and more when callers race between the check and the add.",
		Shows:   "With -workers 2 -queue 2, ten slow requests at once get five 200s or more, not at most four.",
		Killers: []string{"2.3"},
	},
	{
		Name: "queue-full-when-channel-full", Chapter: 2, File: poolPool,
		Old: `		j.outside = true
		if done != nil {
			go p.push(j) // Go's caller must not wait
		}
		return j, held, nil
`,
		New: `		p.held.Add(-1)
		return nil, 0, ErrFull
`,
		Bug:     "The pool refuses a job when its channel is full, though jobs given up on after their queue timeout still sit in it, so each such job shrinks the queue until a worker skips it.",
		Shows:   "With -workers 1 -queue 4 -queue-timeout 300ms, behind GET /sleep?ms=3000, five requests time out in turn; then four requests at once get 503 at once, not after 300 ms.",
		Killers: []string{"2.4"},
	},
	{
		Name: "worker-finishes-uncounted", Chapter: 2, File: poolPool,
		Old: `		p.busy.Add(-1)
		p.held.Add(-1)
		j.end(nil)
`,
		New: `		p.busy.Add(-1)
		j.end(nil)
`,
		Bug:     "A job that returns is not counted out of the jobs the pool holds, so the pool fills up with finished jobs and soon refuses everything.",
		Shows:   "With -workers 2 -queue 2, after four requests have been answered, every request gets 503.",
		Killers: []string{"2.3"},
	},
	{
		Name: "watchdog-never-woken", Chapter: 2, File: poolGate,
		Old: `	if held == 1 {
		g.dog.busy() // the watchdog sleeps while no job is held
	}
`,
		New:     "",
		Bug:     "The watchdog goes to sleep while the pool is idle and nothing wakes it when a job comes.",
		Shows:   "With -request-timeout 1s, GET /sleep?ms=3000 gets 200 after 3 s, not 504.",
		Killers: []string{"2.6"},
	},
	{
		Name: "admit-after-close", Chapter: 2, File: poolGate,
		Old: `	if g.isClosed() {
		return 0, ErrClosed
	}
	held := g.held.Add(1)`,
		New:        "\theld := g.held.Add(1)",
		Bug:        "The pool takes jobs after Close, leaving the refusal to the send to its queue.",
		Equivalent: "a Pool checks the close again just after it sends a job to its queue (missedClose), and gives the job up with ErrClosed: the job is refused all the same, a little later, with nothing sent to the client meanwhile.",
	},

	// Step 3: the queue timeout.
	{
		Name: "queue-timeout-keeps-its-room", Chapter: 2, File: poolPool,
		Old: `		case <-tick:
			if p.drop(j, abandoned) {
				return ErrQueueTimeout
			}
`,
		New: `		case <-tick:
			if j.state.CompareAndSwap(queued, abandoned) {
				return ErrQueueTimeout
			}
`,
		Bug:     "A job that gives up waiting for a worker is not counted out of the jobs held, so each queue timeout shrinks the room in the queue for good.",
		Shows:   "With -workers 1 -queue 4 -queue-timeout 300ms, after a request timed out behind a slow one, four requests at once get a 503 at once.",
		Killers: []string{"2.4"},
	},
	{
		Name: "queue-timeout-checked-late", Chapter: 2, File: poolPool,
		Old:     `if p.cfg.QueueTimeout > 0 && held > int64(p.cfg.Workers) {`,
		New:     `if p.cfg.QueueTimeout > 0 && held > int64(p.cfg.Workers+p.cfg.Queue) {`,
		Bug:     "The queue timeout is checked when a worker takes the job, not when it passes, so the 503 comes as late as the job ahead of it.",
		Shows:   "With -workers 1 -queue-timeout 300ms, GET /counter sent 250 ms after GET /sleep?ms=2000 gets its 503 after 1.75 s, not at 300 ms.",
		Killers: []string{"2.4"},
	},

	// Step 4: the run timeout.
	{
		Name: "run-timeout-from-queueing", Chapter: 2, File: poolPool,
		Old:     `if w.job != nil && t-w.started >= p.cfg.RunTimeout &&`,
		New:     `if w.job != nil && t-w.job.enqueued >= p.cfg.RunTimeout &&`,
		Bug:     "The run timeout is timed from when the job was queued, not from when it started to run, so a job that waited for a worker gets less than -request-timeout to run.",
		Shows:   "With -workers 2 -request-timeout 1s, four GET /sleep?ms=600 at once: the two that waited get 504, not 200.",
		Killers: []string{"2.6"},
	},
	{
		Name: "abandoned-worker-not-replaced", Chapter: 2, File: poolPool,
		Old:     "\t\t\tp.startWorker() // a new worker takes the place of the abandoned one,\n",
		New:     "",
		Bug:     "A worker whose job ran past the run timeout is not replaced, so each timeout costs the pool a worker until the job returns.",
		Shows:   "With -workers 2 -request-timeout 1s, after two GET /sleep?ms=3000 got their 504, GET /sleep?ms=200 waits until the abandoned calls end.",
		Killers: []string{"2.6"},
	},
	{
		Name: "abandoned-still-held", Chapter: 2, File: poolPool,
		Old:     "\t\t\tp.held.Add(-1)\n\t\t\tp.busy.Add(-1)\n\t\t\tp.abandoned.Add(1)\n",
		New:     "\t\t\tp.busy.Add(-1)\n\t\t\tp.abandoned.Add(1)\n",
		Bug:     "A job given up on after the run timeout is not counted out of the jobs held, so it takes room in the queue until it returns.",
		Shows:   "With -workers 2 -queue 8 -request-timeout 1s, after two GET /sleep?ms=3000 got their 504, nine requests at once get some 503s, though the pool has room for ten.",
		Killers: []string{"2.6"},
	},
	{
		Name: "abandoned-worker-stays", Chapter: 2, File: poolPool,
		Old: `			p.abandoned.Add(-1)
			return
`,
		New: `			p.abandoned.Add(-1)
			continue
`,
		Bug:     "A worker whose abandoned job finally returns goes back to work, though a new worker has taken its place, so the pool grows by one with each run timeout.",
		Shows:   "With -workers 2, once a GET /sleep?ms=1500 was abandoned at 1 s and has returned, six slow requests at once run three at a time.",
		Killers: []string{"2.6"},
	},
	{
		Name: "late-never-called", Chapter: 2, File: poolPool,
		Old: `				if j.late != nil {
					j.late()
				}
`,
		New:     "",
		Bug:     "The pool gives up on a job at the run timeout but never calls late, so no 504 is written and the connection is closed without an answer.",
		Shows:   "With -request-timeout 1s, GET /sleep?ms=3000 gets no response at all: the connection closes after 1 s.",
		Killers: []string{"2.6"},
	},
	{
		Name: "watchdog-period-whole-timeout", Chapter: 2, File: poolWatchdog,
		Old:     `return min(max(timeout/10, time.Millisecond), 100*time.Millisecond)`,
		New:     `return timeout`,
		Bug:     "The watchdog looks at the running jobs once per run timeout instead of ten times, so an overrun is noticed up to a whole timeout late.",
		Shows:   "With -request-timeout 1s, GET /sleep?ms=3000 sent 500 ms after another one gets its 504 after 1.5 s, not within 1.1 s as the README promises.",
		Killers: []string{"2.6"},
	},

	// Step 5: the pool's close.
	{
		Name: "close-runs-the-queue", Chapter: 2, File: poolPool,
		Old: `drain:
	for {
		select {
		case j := <-p.queue:
			if p.drop(j, finished) {
				j.end(ErrClosed)
			}
		default:
			break drain
		}
	}
`,
		New:        "",
		Bug:        "Close leaves the jobs waiting in the queue to the workers, which run them before they take the signal to leave.",
		Equivalent: "the server closes its pool only once every connection has ended (or -shutdown-timeout has passed, and then the process exits within Close's one second), so nothing waits in the queue that a client could still see answered.",
	},

	// Given: the answers to the pool's errors.
	{
		Name: "late-504-unguarded", Chapter: 2, File: poolAnswer,
		Old: `			c.out.abandon(func() {
				gateway.WriteError(c.out.w, 504, "the application did not answer in time", true)
			})
`,
		New:     "\t\t\tgateway.WriteError(c.out.w, 504, \"the application did not answer in time\", true)\n",
		Bug:     "The 504 is written to the connection without taking it from the app, which goes on writing its own response after it.",
		Shows:   "With -request-timeout 1s, GET /stream whose chunks outlast the timeout gets its body cut by a 504 inside it; the race detector reports the two writers.",
		Killers: []string{"2.6", Race},
	},
	{
		Name: "call-recycled-after-timeout", Chapter: 2, File: poolAnswer,
		Old: `		if err == nil {
			keep := c.keep
			c.req = nil
			c.out.reset(nil)
			calls.Put(c) // the app is done with it; after a run timeout, it may not be
			return keep
		}
`,
		New: `		keep := c.keep
		c.req = nil
		c.out.reset(nil)
		calls.Put(c)
		if err == nil {
			return keep
		}
`,
		Bug:     "The work of a request is recycled after a run timeout too, while the abandoned app still runs with it.",
		Shows:   "With -request-timeout 1s, after GET /sleep?ms=3000 got its 504, the next request reuses its call while the abandoned app still holds it: the race detector reports the two.",
		Killers: []string{"2.6", Race},
	},
	{
		Name: "no-retry-after", Chapter: 2, File: poolAnswer,
		Old:     `gateway.WriteError(bw, 503, msg, close, gateway.Header{Name: "Retry-After", Value: "1"})`,
		New:     `gateway.WriteError(bw, 503, msg, close)`,
		Bug:     "The 503 of a full pool does not say when to try again.",
		Shows:   "With the pool and its queue full, a request gets 503 without Retry-After.",
		Killers: []string{"2.3"},
	},
	{
		Name: "refused-body-keeps-connection", Chapter: 2, File: poolAnswer,
		Old:     `close := closing || !req.WantsKeepAlive() || req.ContentLength != 0`,
		New:     `close := closing || !req.WantsKeepAlive()`,
		Bug:     "A request refused with 503 keeps its connection even when it has a body nobody read.",
		Shows:   "While the pool is full, POST /echo whose body is \"GET /counter HTTP/1.1 ...\" gets a 503 that keeps the connection, then an answer to the GET smuggled in the body.",
		Killers: []string{"2.10"},
	},

	// Step 6: shared data and wsgi.multithread.
	{
		Name: "counter-unlocked", Chapter: 2, File: appStats,
		Old: `func (c *lockedCounter) Add(n int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
`,
		New:     "func (c *lockedCounter) Add(n int64) int64 {\n",
		Bug:     "The counter the workers share is added to without the lock, so two workers can read the same count and both write it plus one.",
		Shows:   "Eight clients that each GET /counter fifty times raise it by less than 400; the race detector reports the two workers.",
		Killers: []string{"2.7", Race},
	},
	{
		Name: "multithread-false", Chapter: 2, File: threadedShared,
		Old:     "srv.MultiThread, srv.MultiProcess = true, false",
		New:     "srv.MultiThread, srv.MultiProcess = false, false",
		Bug:     "The environ keeps wsgi.multithread false though the app runs on several workers at once.",
		Shows:   "GET /env shows wsgi.multithread \"false\".",
		Killers: []string{"2.8"},
	},

	// Given: the end of a connection on shutdown.
	{
		Name: "idle-not-woken-on-shutdown", Chapter: 2, File: http1Conn,
		Old:     "stop := context.AfterFunc(ctx, func() {",
		New:     "stop := context.AfterFunc(context.Background(), func() {",
		Bug:     "The wake of a connection that waits for its next request is tied to a context that is never cancelled, so on shutdown the connection is closed only when its idle timeout passes.",
		Shows:   "SIGTERM with an idle keep-alive connection open and -idle-timeout 15s: the connection is closed after -shutdown-timeout, not at once.",
		Killers: []string{"2.9"},
	},
	{
		Name: "closing-not-said", Chapter: 2, File: http1Conn,
		Old:     `if !answer(bw, req, ctx.Err() != nil) {`,
		New:     `if !answer(bw, req, false) {`,
		Bug:     "A response finished during the shutdown does not say Connection: close, though the connection is closed after it.",
		Shows:   "SIGTERM while requests are in flight on keep-alive connections: their 200s have no Connection: close, yet the connections are closed after them.",
		Killers: []string{"2.9"},
	},
}
