package mutants

// chapter2 are the bugs of a threaded server: what a learner gets wrong writing chapter 2's pool of workers
// and its queue (the reference answer is chapters/pool's Limiter and the answers of pool.Answer), the server
// around it, and its shutdown.
var chapter2 = []Mutant{
	// The bound on the pool and its queue.
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
		Name: "queue-timeout-keeps-its-room", Chapter: 2, File: poolLimiter,
		Old: `	if err != nil {
		l.held.Add(-1)
		return err
	}
`,
		New: `	if err != nil {
		return err
	}
`,
		Bug:     "A job that gives up waiting (queue timeout, close) is not counted out, so each one shrinks the room in the queue for good.",
		Shows:   "With -workers 1 -queue 4 -queue-timeout 300ms, five requests that time out behind a slow one leave a server that answers 503 at once to everything.",
		Killers: []string{"2.4"},
	},
	{
		Name: "queue-timeout-checked-late", Chapter: 2, File: poolLimiter,
		Old: `		var tick <-chan time.Time
		if l.cfg.QueueTimeout > 0 {
			t := time.NewTimer(l.cfg.QueueTimeout)
			defer t.Stop()
			tick = t.C
		}
		select {
		case s = <-l.free:
		case <-tick:
			return nil, ErrQueueTimeout
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-l.done:
			return nil, ErrClosed
		}
`,
		New: `		queued := time.Now()
		select {
		case s = <-l.free:
			if l.cfg.QueueTimeout > 0 && time.Since(queued) > l.cfg.QueueTimeout {
				l.free <- s
				return nil, ErrQueueTimeout
			}
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-l.done:
			return nil, ErrClosed
		}
`,
		Bug:     "The queue timeout is checked when a place frees up, not when it passes, so the 503 comes as late as the slowest job.",
		Shows:   "With -workers 1 -queue-timeout 300ms, GET /hello sent 250 ms after GET /sleep?ms=1000 gets its 503 after 750 ms, when the sleep ends, not at 300 ms.",
		Killers: []string{"2.4"},
	},
	{
		Name: "queue-ignores-close", Chapter: 2, File: poolLimiter,
		Old: `		case <-l.done:
			return nil, ErrClosed
`,
		New:     "",
		Bug:     "A job waiting for a place does not listen for the close, so on SIGTERM it waits out its queue timeout.",
		Shows:   "With -workers 1 -shutdown-timeout 1s, SIGTERM while GET /sleep?ms=5000 runs and a second request waits in the queue: the reference answers the waiting one 503 as the pool closes; the mutant exits without an answer to it.",
		Killers: []string{"2.9"},
	},
	{
		Name: "queue-timer-not-stopped", Chapter: 2, File: poolLimiter,
		Old:        "\t\t\tdefer t.Stop()\n",
		New:        "",
		Bug:        "The queue timeout's timer is not stopped when a place comes first.",
		Equivalent: "since Go 1.23 a timer that is not stopped is collected once nothing refers to it, and its channel is unbuffered, so its firing is never seen: nothing is left running or sent.",
	},
	{
		Name: "admit-after-close", Chapter: 2, File: poolGate,
		Old: `	if g.isClosed() {
		return 0, ErrClosed
	}
	held := g.held.Add(1)`,
		New:        "\theld := g.held.Add(1)",
		Bug:        "The pool takes jobs after Close, leaving the refusal to the wait for a place.",
		Equivalent: "a job admitted after Close waits for a place, and wait checks the close after it gets one (or gets it from the closed channel): the job is refused with ErrClosed all the same, only a little later, with nothing sent meanwhile.",
	},

	// Timeouts and 504.
	{
		Name: "watchdog-period-whole-timeout", Chapter: 2, File: poolWatchdog,
		Old:     `return min(max(timeout/10, time.Millisecond), 100*time.Millisecond)`,
		New:     `return timeout`,
		Bug:     "The watchdog looks at the running jobs once per run timeout instead of ten times, so an overrun is noticed up to a whole timeout late.",
		Shows:   "With -request-timeout 500ms, GET /sleep?ms=3000 sent 250 ms after another one gets its 504 after 750 ms, not within 550 ms as the README promises (alone, the watchdog's first look falls right).",
		Killers: []string{"2.6"},
	},
	{
		Name: "watchdog-never-woken", Chapter: 2, File: poolGate,
		Old: `	if held == 1 {
		g.dog.busy() // the watchdog sleeps while no job is held
	}
`,
		New:     "",
		Bug:     "The watchdog goes to sleep while the pool is idle and nothing wakes it when a job comes.",
		Shows:   "With -request-timeout 500ms, GET /sleep?ms=3000 gets 200 after 3 s, not 504.",
		Killers: []string{"2.6"},
	},
	{
		Name: "abandoned-place-not-replaced", Chapter: 2, File: poolLimiter,
		Old:     "\t\t\t\tl.free <- fresh\n",
		New:     "",
		Bug:     "A job given up on after the run timeout keeps its place until it returns, so each timeout costs the pool a worker.",
		Shows:   "With -workers 2 -request-timeout 500ms, after two GET /sleep?ms=3000 got their 504, GET /sleep?ms=200 waits until the abandoned calls end.",
		Killers: []string{"2.6"},
	},
	{
		Name: "abandoned-still-held", Chapter: 2, File: poolLimiter,
		Old: `				l.abandoned.Add(1)
				l.held.Add(-1)
`,
		New:     "\t\t\t\tl.abandoned.Add(1)\n",
		Bug:     "A job given up on after the run timeout is not counted out of the jobs held, so it takes room in the queue for good.",
		Shows:   "With -workers 2 -queue 8 -request-timeout 500ms, after two GET /sleep?ms=3000 got their 504, nine requests at once get some 503s, though the pool has room for ten.",
		Killers: []string{"2.6"},
	},
	{
		Name: "place-end-unlocked", Chapter: 2, File: poolLimiter,
		Old: `func (s *place) end() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
`,
		New:     "func (s *place) end() bool {\n",
		Bug:     "A place is marked free without its lock, while the watchdog reads it under the lock.",
		Shows:   "The race detector reports the job's goroutine and the watchdog on the same place; without it, a job that ends as the watchdog looks may be both given up on and counted as ended.",
		Killers: []string{"2.2", Race},
	},
	{
		Name: "late-504-unguarded", Chapter: 2, File: poolAnswer,
		Old: `			c.out.abandon(func() {
				gateway.WriteError(c.out.w, 504, "the application did not answer in time", true)
			})
`,
		New:     "\t\t\tgateway.WriteError(c.out.w, 504, \"the application did not answer in time\", true)\n",
		Bug:     "The 504 is written to the connection without taking it from the app, which goes on writing its own response after it.",
		Shows:   "With -request-timeout 500ms, GET /sleep?ms=1000 gets its 504, then the app's 200 on the same connection; the race detector reports the two writers.",
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
		Bug:        "The work of a request is recycled after a run timeout too, while the abandoned app may still use it.",
		Equivalent: "a Limiter's Do returns ErrRunTimeout only once the job has returned, so nothing uses the call any more when it is recycled (with a Pool, whose Do returns at once, this would be a real bug).",
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
		Killers: []string{"2.10", "2.3"},
	},

	// The server around the pool.
	{
		Name: "multithread-false", Chapter: 2, File: threadedServer,
		Old:     "\tgw.MultiThread = true\n",
		New:     "",
		Bug:     "The environ keeps wsgi.multithread false though the app runs on several workers at once.",
		Shows:   "GET /env shows wsgi.multithread \"false\".",
		Killers: []string{"2.8"},
	},
	{
		Name: "wg-add-in-goroutine", Chapter: 2, File: threadedServer,
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
	{
		Name: "shutdown-waits-forever", Chapter: 2, File: threadedServer,
		Old:     "\tselect {\n\tcase <-done:\n",
		New:     "\t<-done // every request in flight, however long it takes\n\tselect {\n\tcase <-done:\n",
		Bug:     "On SIGTERM the server waits for every request in flight, however long, ignoring -shutdown-timeout.",
		Shows:   "With -shutdown-timeout 1s, SIGTERM while GET /sleep?ms=60000 runs: the server is still running a minute later.",
		Killers: []string{"2.9"},
	},
	{
		Name: "pool-closed-before-connections", Chapter: 2, File: threadedServer,
		Old: `	// Shutting down: the listener is closed and idle connections close at once (ServeConn sees ctx);
	// requests in flight get ShutdownTimeout to finish.
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(pc.ShutdownTimeout):
		log.Printf("shutdown: requests still in flight after %v; exiting anyway",
			pc.ShutdownTimeout)
	}
	stop, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := workers.Close(stop); err != nil {
		log.Printf("shutdown: closing the worker pool: %v", err)
	}
`,
		New: `	// Shutting down: the pool refuses the requests waiting in its queue, and waits for those running.
	stop, cancel := context.WithTimeout(context.Background(), pc.ShutdownTimeout+time.Second)
	defer cancel()
	if err := workers.Close(stop); err != nil {
		log.Printf("shutdown: closing the worker pool: %v", err)
	}
`,
		Bug:     "On SIGTERM the server closes the pool at once instead of waiting for the connections, so the requests waiting in the queue are refused.",
		Shows:   "With -workers 1, SIGTERM while GET /sleep?ms=800 runs and GET /hello waits in the queue behind it: the waiting request gets 503, where the reference answers it 200 before it exits.",
		Killers: []string{"2.9"},
	},
	{
		Name: "idle-not-woken-on-shutdown", Chapter: 2, File: http1Conn,
		Old:     "stop := context.AfterFunc(ctx, func() {",
		New:     "stop := context.AfterFunc(context.Background(), func() {",
		Bug:     "The wake of a connection that waits for its next request is tied to a context that is never cancelled, so on shutdown the connection is closed only when its idle timeout passes.",
		Shows:   "SIGTERM with an idle keep-alive connection open and the default timeouts: the server exits after -shutdown-timeout (10 s), not at once.",
		Killers: []string{"2.9"},
	},
	{
		Name: "closing-not-said", Chapter: 2, File: http1Conn,
		Old:     `if !answer(bw, req, ctx.Err() != nil) {`,
		New:     `if !answer(bw, req, false) {`,
		Bug:     "A response finished during the shutdown does not say Connection: close, though the connection is closed after it.",
		Shows:   "SIGTERM while a request head is on its way (GET /hello HTTP/1.1, then the rest 200 ms after the signal): its 200 has no Connection: close, yet the connection is closed after it.",
		Killers: []string{"2.9"},
	},
}
