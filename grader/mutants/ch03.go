package mutants

// chapter3 are the bugs of an event-driven server: what a learner gets wrong writing chapter 3's loop, its
// timers and its connections' state machine, in the parser fed by the loop (chapters/push) and in the pool
// the loop hands the app to (chapters/pool's Pool and Go).
var chapter3 = []Mutant{
	// The loop and its timers.
	{
		Name: "epoll-wait-ignores-timers", Chapter: 3, File: eventLoop,
		Old: `	if t, ok := l.timers.next(); ok {
		timeout = msUntil(now, t)
	}
`,
		New:     "",
		Bug:     "epoll_wait waits without a timeout, so a deadline passes unnoticed until some socket wakes the loop.",
		Shows:   "GET /hello, then nothing: the idle connection stays open long after -idle-timeout, until another connection's traffic wakes the loop.",
		Killers: []string{"1.21", "3.4"},
	},
	{
		Name: "ms-until-rounds-down", Chapter: 3, File: eventLoop,
		Old:        `return int(min((d+time.Millisecond-1)/time.Millisecond, 1<<30))`,
		New:        `return int(min(d/time.Millisecond, 1<<30))`,
		Bug:        "The time to the next deadline is rounded down to whole milliseconds for epoll_wait.",
		Equivalent: "the loop wakes up to a millisecond before the deadline, finds nothing expired, and waits again with a timeout of 0 until it has passed: it spends that millisecond turning, and every deadline is met as before.",
	},
	{
		Name: "timer-swap-loses-index", Chapter: 3, File: eventTimers,
		Old: `	h[i].index = i
	h[j].index = j
`,
		New:     "\th[i].index = i\n",
		Bug:     "Swapping two timers in the heap updates the index of one of them only, so later moves and removals work on the wrong place.",
		Shows:   "300 keep-alive connections, half of them sending GET /hello every 0.3 s for 2 s: 3 s after the last request about 140 are still open (-idle-timeout 1s), where the reference has closed them all.",
		Killers: []string{"3.4", "1.21"},
	},
	{
		Name: "timer-kept-while-busy", Chapter: 3, File: eventConn,
		Old:     "\tl.timers.stop(&c.timer) // no deadline while the app runs; the write deadline starts if the client stops reading\n",
		New:     "",
		Bug:     "The header (or body) deadline is left running while the app runs, so a request that takes longer than it is cut off.",
		Shows:   "GET /sleep?ms=1500 with -header-timeout 1s: the connection is closed at 1 s, before the answer (GET /cpu?ms=1000 escapes it by a hair: its answer is taken in the same turn that would expire the deadline).",
		Killers: []string{"3.8", "3.15"},
	},
	{
		Name: "header-deadline-per-read", Chapter: 3, File: eventConn,
		Old: `	if c.state == idle {
		// The first byte of a request: from now on, the whole head must come before the header deadline,
		// however slowly it trickles in (a deadline per read would let a slowloris client hold on forever).
		c.state = head
		l.timers.set(&c.timer, now.Add(l.cfg.HeaderTimeout))
	}
`,
		New: `	if c.state == idle || c.state == head {
		c.state = head
		l.timers.set(&c.timer, now.Add(l.cfg.HeaderTimeout))
	}
`,
		Bug:     "The header deadline is set again each time bytes of the head arrive, so it bounds the pause between two reads, not the whole head.",
		Shows:   "A client that sends its head a byte every 200 ms is never cut off.",
		Killers: []string{"1.22", "3.4"},
	},
	{
		Name: "body-timer-not-set", Chapter: 3, File: eventConn,
		Old: `	if req.ContentLength != 0 {
		l.timers.set(&c.timer, now.Add(l.cfg.BodyTimeout))
	}
`,
		New:     "",
		Bug:     "No deadline is set for the body, so it must arrive before the header deadline, which was meant for the head only.",
		Shows:   "With -header-timeout 1s -body-timeout 5s, a POST /echo whose 2 MiB body arrives steadily over 2 s is cut off after 1 s.",
		Killers: []string{"1.34", "1.23"},
	},
	{
		Name: "idle-timer-not-set", Chapter: 3, File: eventConn,
		Old:     "\tl.timers.set(&c.timer, now.Add(l.cfg.IdleTimeout))\n",
		New:     "",
		Bug:     "A kept-alive connection gets no idle deadline once its response is written.",
		Shows:   "GET /hello, then nothing: the connection stays open for good.",
		Killers: []string{"1.21"},
	},
	{
		Name: "write-deadline-from-first-stall", Chapter: 3, File: eventConn,
		Old: "\t\tprogress = true\n",
		New: "\t\tprogress = c.timer.index < 0\n",
		Bug: "The write deadline runs from the first time the socket is full, not from the last write that made progress.",
		Equivalent: "on Linux, epoll reports a socket writable once a third of its send buffer is free, and the kernel grows " +
			"that buffer with the traffic to megabytes, well over the 256 KiB the loop keeps for a connection: each write " +
			"after EPOLLOUT empties the loop's buffer, which stops the timer, so the deadline restarts at each write that " +
			"makes progress, as the reference's does (measured: slow readers are cut at the same points).",
	},
	{
		Name: "worker-never-wakes-loop", Chapter: 3, File: eventLoop,
		Old:     `l.sleeping = timeout != 0`,
		New:     `l.sleeping = false`,
		Bug:     "The loop never says it is going to sleep, so a worker with a response never writes the eventfd to wake it.",
		Shows:   "GET /hello on an otherwise idle server gets no answer: the loop sleeps in epoll_wait with the response ready.",
		Killers: []string{"1.1"},
	},
	{
		Name: "lost-wakeup", Chapter: 3, File: eventLoop,
		Old: `	if len(l.ready) > 0 || l.stop && !l.stopping {
		timeout = 0 // news came since the last look: do not sleep
	}
`,
		New:     "",
		Bug:     "The loop goes to sleep without looking for news that came after its last look, which no worker will announce again.",
		Shows:   "15 bursts of 20 GET /sleep?ms=50 at once: a few requests get no answer within 3 s (the reference answers all within 0.2 s); a SIGTERM that comes between two turns is missed the same way.",
		Killers: []string{"3.2", "3.3", "3.7", "3.12"},
	},

	// Accepting.
	{
		Name: "accept-no-pause", Chapter: 3, File: eventLoop,
		Old:     "\t\t\tl.pauseAccept(now)\n",
		New:     "",
		Bug:     "Out of file descriptors, the listener stays in the epoll set, which reports it readable at once, again and again.",
		Shows:   "With the server out of descriptors and connections waiting, it spins at 100% of a core.",
		Killers: []string{"3.6"},
	},
	{
		Name: "small-backlog", Chapter: 3, File: eventListen,
		Old:     `unix.Listen(fd, unix.SOMAXCONN)`,
		New:     `unix.Listen(fd, 8)`,
		Bug:     "The listen backlog is a small number, as in the examples of old socket tutorials.",
		Shows:   "With the server out of descriptors, 9 of 20 connections can be made, where the reference's backlog takes all 20.",
		Killers: []string{"3.6", "3.2", "3.3"},
	},

	// The connection's state machine.
	{
		Name: "pipelined-bytes-dropped", Chapter: 3, File: eventConn,
		Old: `	if len(c.in) > 0 {
		in := c.in
		c.in = nil
		l.feed(c, in, now)
		return
	}
`,
		New:     "",
		Bug:     "The bytes read beyond a request are kept but never parsed, so pipelined requests get no answer.",
		Shows:   "Three requests sent in one write get one answer, then silence.",
		Killers: []string{"1.6"},
	},
	{
		Name: "reads-while-busy", Chapter: 3, File: eventConn,
		Old:     `return c.state != busy && c.unsent() < maxOut`,
		New:     `return c.unsent() < maxOut`,
		Bug:     "The loop goes on reading a connection whose request is with the pool, so a request that arrives meanwhile is parsed in the middle of the first one's answer.",
		Shows:   "GET /sleep?ms=300, then 100 ms later GET /hello on the same connection: only GET /hello is answered, and the answer to the first request is lost.",
		Killers: []string{"1.6"},
	},
	{
		Name: "eof-mid-request-silent", Chapter: 3, File: eventConn,
		Old: `	if c.state == head || c.state == body {
		if err := c.p.EOF(); err != nil {
			l.refuse(c, err, now) // a request cut short: 400, as the blocking server answers
			return
		}
	}
`,
		New:     "",
		Bug:     "A client that shuts down its side in the middle of a request is closed without the 400 a cut-short request gets.",
		Shows:   "POST /echo with Content-Length: 10, 3 bytes, then the end of the stream gets the close, not 400.",
		Killers: []string{"1.4"},
	},
	{
		Name: "loop-no-lingering-close", Chapter: 3, File: eventConn,
		Old: `		if c.drain || len(c.in) > 0 {
			l.linger(c, now)
		} else {
			l.close(c)
		}
`,
		New:     "\t\tl.close(c)\n",
		Bug:     "The connection is closed right after a refusal while the client is still sending its body.",
		Shows:   "A chunked POST that passes -max-body while the client still sends: the close with unread bytes makes the kernel reset the connection, and the client may never read the 413.",
		Killers: []string{"1.17"},
	},
	{
		Name: "run-timeout-answers-503", Chapter: 3, File: eventLoop,
		Old:     `l.answer(c, 504, "the application did not answer in time", now)`,
		New:     `l.tooBusy(c, now)`,
		Bug:     "A request whose app ran past the request timeout is answered like one the pool refused: 503, not 504.",
		Shows:   "With -request-timeout 500ms, GET /sleep?ms=3000 gets 503 with Retry-After, not 504 Gateway Timeout.",
		Killers: []string{"3.15"},
	},
	{
		Name: "inpool-bound-off-by-one", Chapter: 3, File: eventConn,
		Old:        `if l.inPool >= l.maxInPool {`,
		New:        `if l.inPool > l.maxInPool {`,
		Bug:        "The loop hands one request more to the pool than the pool's workers and queue hold.",
		Equivalent: "the pool refuses the extra request with ErrFull, which the loop answers with the same 503 (and the same keep-alive) one turn later.",
	},

	// Backpressure and the hand-off to the workers.
	{
		Name: "backpressure-never-released", Chapter: 3, File: eventConn,
		Old: `	if c.reply != nil {
		c.reply.sent(c.unsent()) // wakes the worker if it waits for room
	}
`,
		New:     "",
		Bug:     "The loop does not tell the worker when the socket has taken its output, so a worker that waits for room waits for good.",
		Shows:   "GET /big?bytes=8388608, read at full speed, stops after the first 256 KiB.",
		Killers: []string{"3.5"},
	},
	{
		Name: "flush-without-backpressure", Chapter: 3, File: eventOffload,
		Old: `	for !r.gone && len(r.flushed)+r.unsent >= maxOut {
		r.cond.Wait()
	}
`,
		New:     "",
		Bug:     "A worker hands its output to the loop without waiting for room, so a client that does not read makes the server buffer the whole response.",
		Shows:   "Three clients that ask for /big?bytes=67108864 and read nothing grow the server's memory by 192 MiB.",
		Killers: []string{"3.5"},
	},
	{
		Name: "write-spins-on-eagain", Chapter: 3, File: eventConn,
		Old:     "unix.EAGAIN) {\n\t\t\tbreak",
		New:     "unix.EAGAIN) {\n\t\t\tcontinue",
		Bug:     "When the socket's send buffer is full, the loop writes again at once instead of waiting for EPOLLOUT.",
		Shows:   "A client that asks for /big and does not read freezes the loop: every other connection waits.",
		Killers: []string{"3.5"},
	},
	{
		Name: "reply-not-abandoned", Chapter: 3, File: eventConn,
		Old: `	if c.reply != nil {
		c.reply.abandon()
	}
`,
		New:     "",
		Bug:     "Closing a connection does not tell the worker making its response, which then waits for room that never comes.",
		Shows:   "With -workers 1 -write-timeout 1s, a client that asks for /big?bytes=16777216 and does not read is closed after 1 s, and the only worker stays blocked: GET /hello gets no answer after it.",
		Killers: []string{"3.16", "3.5"},
	},
	{
		Name: "take-unlocked", Chapter: 3, File: eventOffload,
		Old: `func (r *reply) take(c *conn) (done bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
`,
		New:     "func (r *reply) take(c *conn) (done bool) {\n",
		Bug:     "The loop takes a worker's output without the reply's lock, while the worker appends to it.",
		Shows:   "Built with the race detector, 8 GET /stream and 4 GET /big at once give 7 race reports (the reference none); without it, bytes a worker flushes while the loop takes the previous ones can be lost or sent twice.",
		Killers: []string{"3.5", Race},
	},

	// Shutdown.
	{
		Name: "idle-kept-on-sigterm", Chapter: 3, File: eventLoop,
		Old: `	for _, c := range l.conns {
		if c != nil && !c.closed && c.state == idle {
			l.close(c)
		}
	}
`,
		New:     "",
		Bug:     "On SIGTERM idle keep-alive connections are left open, so the loop waits for each to reach its idle timeout.",
		Shows:   "SIGTERM with an idle keep-alive connection open and the default timeouts: the server exits after the grace period (10 s), not at once.",
		Killers: []string{"3.12"},
	},
	{
		Name: "in-flight-cut-on-sigterm", Chapter: 3, File: eventLoop,
		Old:     `if l.stopping && (l.open == 0 || !now.Before(l.stopBy)) {`,
		New:     `if l.stopping {`,
		Bug:     "The loop returns as soon as it is told to stop, closing the connections whose requests are in flight.",
		Shows:   "SIGTERM while GET /sleep?ms=800 runs: the connection is closed without an answer; the reference answers it, then exits.",
		Killers: []string{"3.12"},
	},
	{
		Name: "closed-slot-kept", Chapter: 3, File: eventLoop,
		Old:        "\t\tl.conns[c.fd] = nil\n",
		New:        "",
		Bug:        "A closed connection is left in the loop's table of connections by descriptor.",
		Equivalent: "the slot is overwritten when the kernel reuses the descriptor number, and every look at the table skips a closed connection: only the memory of the last connection of each number stays, which no client sees.",
	},

	// The parser fed by the loop.
	{
		Name: "parser-body-overread", Chapter: 3, File: pushPush,
		Old:     `k := int(min(p.left, int64(len(b)-n)))`,
		New:     `k := len(b) - n`,
		Bug:     "The parser takes every byte it is given as body, not just the bytes the body has left.",
		Shows:   "POST /echo with Content-Length: 5 and GET /hello in the same write gets one answer, with the GET in its body, then silence.",
		Killers: []string{"1.6"},
	},
	{
		Name: "parser-line-limit-forgets-kept", Chapter: 3, File: pushPush,
		Old:     `if len(p.line)+len(b) > max+2 {`,
		New:     `if len(b) > max+2 {`,
		Bug:     "The limit on a line that has not ended is checked on the new bytes alone, not with those kept from earlier reads.",
		Shows:   "A header line sent 1 KiB at a time without end is buffered until one read happens to bring over 8 KiB at once (after hundreds of KiB), or for good if none does; the reference answers 431 at 8 KiB.",
		Killers: []string{"1.16", "1.14"},
	},
	{
		Name: "parser-trailers-unchecked", Chapter: 3, File: pushPush,
		Old: `		_, err := p.sec.Field(line, p.lim)
		return NeedMore, err
`,
		New:     "\t\treturn NeedMore, nil\n",
		Bug:     "Trailer fields are dropped unchecked, so neither the limits nor the syntax of header fields applies to them.",
		Shows:   "A chunked POST /echo with 200 trailer fields, or with \"X Bad : 1\" as a trailer, gets 200; the reference answers 431 and 400.",
		Killers: []string{"1.27", "1.5"},
	},
	{
		Name: "parser-chunk-end-lenient", Chapter: 3, File: pushPush,
		Old: `			case c == '\n':
				p.state = inChunkSize
			case c == '\r' && p.state == inChunkCR:
				p.state = inChunkLF
			default:
				return n, NeedMore, p.fail(errorf(400, "chunk data longer than its declared size"))
			}
`,
		New: `			case c == '\r' && p.state == inChunkCR:
				p.state = inChunkLF
			default:
				p.state = inChunkSize
			}
`,
		Bug:     "Any byte after chunk data is taken for the end of its line, so data longer than its chunk size goes unnoticed.",
		Shows:   "A chunked POST /echo of \"5\\r\\nhelloX3\\r\\nabc\\r\\n0\\r\\n\\r\\n\" gets 200 and \"helloabc\", not 400.",
		Killers: []string{"1.27"},
	},
	{
		Name: "parser-section-not-reset", Chapter: 3, File: pushPush,
		Old:        `p.state, p.sec = inHeader, http1.Section{}`,
		New:        `p.state = inHeader`,
		Bug:        "The count of header fields is not reset when a request line is parsed.",
		Equivalent: "next zeroes the whole parser at the end of each request, and NewParser starts with a zero count: at a request line the count is always zero already.",
	},

	// The pool the loop hands the app to.
	{
		Name: "pool-queue-timer-never-armed", Chapter: 3, File: poolPool,
		Old:     `if done != nil && p.cfg.QueueTimeout > 0 && held > int64(p.cfg.Workers) {`,
		New:     `if done != nil && p.cfg.QueueTimeout > 0 && held > int64(p.cfg.Workers+p.cfg.Queue) {`,
		Bug:     "A job queued behind busy workers gets no timer for its queue timeout, which is then checked only when a worker takes it.",
		Shows:   "With -workers 1 -queue-timeout 300ms, GET /hello behind GET /sleep?ms=1000 gets its 503 after 1 s, when the worker frees up, not at 300 ms.",
		Killers: []string{"3.14"},
	},
	{
		Name: "pool-abandoned-not-replaced", Chapter: 3, File: poolPool,
		Old:     "\t\t\tp.startWorker() // a new worker takes the place of the abandoned one,\n",
		New:     "",
		Bug:     "A worker whose job ran past the request timeout is not replaced, so each timeout costs the pool a worker until the job returns.",
		Shows:   "With -workers 2 -request-timeout 500ms, after two GET /sleep?ms=3000 got their 504, GET /hello is never answered: the pool has lost both workers for good.",
		Killers: []string{"3.15"},
	},
}
