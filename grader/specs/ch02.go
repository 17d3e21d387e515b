package specs

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"course/grader/spec"
	"course/harness"
)

// readme2 is the chapter 2 README, to which each of its specs points.
const readme2 = "chapters/02-threaded/README.md"

// The pool the chapter 2 server is started with; specs that need another size start a server of their own.
const (
	workers2    = 4
	queue2      = 8
	hungWorkers = 2 // spec 2.6's -workers, all of them hung at first
)

// poolFlags are the flags of a chapter's pool: its size, its queue, and short timeouts.
func poolFlags(workers, queue int) []string {
	return []string{"-workers", strconv.Itoa(workers), "-queue", strconv.Itoa(queue), "-queue-timeout", "2s", "-request-timeout", "5s"}
}

func chapter2() *Chapter {
	return &Chapter{
		Number:    2,
		Slug:      "02-threaded",
		Title:     "threaded",
		Flags:     append(flags1(), poolFlags(workers2, queue2)...),
		Race:      true,
		Reference: []string{"pool.New(", "pool.NewLimiter(", "app.NewLockedCounter("}, // the answers to steps 2-6
		Specs:     append(correctness1(nil), threaded2()...),
	}
}

// threaded2 returns the specs of chapter 2's own lesson: requests at the same time, and the pool that
// bounds them.
func threaded2() []spec.Spec {
	return []spec.Spec{
		{
			ID: "2.1", Title: "slow requests on 8 connections run at once", Points: 3, Timeout: 10 * time.Second,
			Flags: []string{"-workers", "8", "-queue", "8"},
			Why:   readme2 + "#one-goroutine-per-connection",
			Hint:  "serve each connection on a goroutine of its own (go serve(conn) in the accept loop), so that a slow request on one connection does not keep the next one waiting in the listen backlog.",
			Repro: "time (for i in 1 2 3 4 5 6 7 8; do curl -s -o /dev/null 'http://{addr}/sleep?ms=500' & done; wait)   # about 0.5s, not 4s",
			Check: checkConcurrent,
		},
		{
			ID: "2.2", Title: "never more than -workers app calls at once", Points: 3, Timeout: 10 * time.Second,
			Flags: []string{"-workers", "4", "-queue", "16"},
			Why:   readme2 + "#a-pool-of-workers",
			Hint:  "let at most -workers requests run the app at once: before calling the app, a connection's goroutine takes one of -workers places (a buffered channel of that size), and gives it back after. The bound is what keeps the memory, the database connections and the CPU an overload can take in check.",
			Repro: "curl -s '{addr}/stats?reset=1' >/dev/null; for i in $(seq 12); do curl -s -o /dev/null 'http://{addr}/sleep?ms=300' & done; wait; curl -s http://{addr}/stats   # with -workers 4 -queue 16: max_inflight 4",
			Check: checkPoolBound,
		},
		{
			ID: "2.3", Title: "overload: a fast 503, then recovery", Points: 3, Timeout: 15 * time.Second,
			Flags: []string{"-workers", "2", "-queue", "2", "-queue-timeout", "5s"},
			Why:   readme2 + "#overload-and-503",
			Hint:  "count the requests running or waiting for a place (sync/atomic); when every worker is busy and -queue requests wait already, do not wait for room: answer 503 Service Unavailable with a Retry-After header at once.",
			Repro: "for i in $(seq 10); do curl -s -o /dev/null -w '%{http_code} %{time_total}s\\n' 'http://{addr}/sleep?ms=1000' & done; wait   # with -workers 2 -queue 2: four 200s, six fast 503s",
			Check: checkOverload,
		},
		{
			ID: "2.4", Title: "a request past -queue-timeout is not run", Points: 2, Timeout: 10 * time.Second,
			Flags: []string{"-workers", "1", "-queue", "4", "-queue-timeout", "300ms"},
			Why:   readme2 + "#the-request-queues",
			Hint:  "wait for a place under a timer of -queue-timeout (a select on the places and on the timer); when it fires, answer 503 without running the app: its client has likely given up, and running it only delays the requests behind it.",
			Repro: "curl -s -o /dev/null 'http://{addr}/sleep?ms=1000' & sleep 0.25; curl -si http://{addr}/counter; wait; curl -s http://{addr}/stats   # with -workers 1 -queue-timeout 300ms: 503, and the counter unchanged",
			Check: checkQueueTimeout,
		},
		{
			ID: "2.5", Title: "idle keep-alive connections hold no worker", Points: 3, Timeout: 15 * time.Second,
			Flags: []string{"-workers", "4", "-idle-timeout", "10s"},
			Why:   readme2 + "#idle-connections",
			Hint:  "hold a worker for one request, not a whole connection: take the place once a request has arrived, and give it back before waiting for the next request on a keep-alive connection.",
			Repro: "for i in $(seq 50); do (printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n'; sleep 8) | nc {host} {port} >/dev/null & done; sleep 1; time curl -s http://{addr}/hello; wait   # with -workers 4 -idle-timeout 10s",
			Check: checkIdleConns,
		},
		{
			ID: "2.6", Title: "a hung request gets 504; its worker is freed", Points: 2, Timeout: 12 * time.Second,
			Flags: []string{"-workers", strconv.Itoa(hungWorkers), "-request-timeout", "500ms"},
			Why:   readme2 + "#timeouts-and-504",
			Hint:  "start a timer of -request-timeout with the app (time.AfterFunc); when it fires, answer 504 Gateway Timeout (the late function pool.Answer gives Do), let the app finish on its own (Go cannot kill a goroutine) and give its place to the next request: the abandoned call holds neither a place nor room in the queue, and the pool keeps its size.",
			Repro: "curl -si 'http://{addr}/sleep?ms=3000' & curl -si 'http://{addr}/sleep?ms=3000' & sleep 1; time curl -s 'http://{addr}/sleep?ms=200'; wait   # with -workers 2 -request-timeout 500ms",
			Check: checkRequestTimeout,
		},
		{
			ID: "2.7", Title: "shared counter: no lost update, no data race", Points: 3, Timeout: 15 * time.Second,
			Why:   readme2 + "#shared-data-and-races",
			Hint:  "the app's data is shared by every worker: guard it with a sync.Mutex or use sync/atomic. The grader builds your server with -race; the report it prints names the two goroutines and the lines that raced.",
			Repro: "curl -s http://{addr}/stats; for c in $(seq 8); do (for i in $(seq 50); do curl -s -o /dev/null http://{addr}/counter; done) & done; wait; curl -s http://{addr}/stats   # counter up by exactly 400",
			Check: checkSharedCounter,
		},
		{
			ID: "2.8", Title: "the environ says wsgi.multithread is true", Points: 1,
			Why:   readme2 + "#wsgi-multithread",
			Hint:  "the app now runs on several workers at once, and must be told so that it guards its shared data: set wsgi.multithread to true (gateway.Server.MultiThread). It is still one process: wsgi.multiprocess stays false.",
			Repro: "curl -s http://{addr}/env | grep -o '\"wsgi.multi[a-z]*\":\"[a-z]*\"'",
			Check: checkMultithread,
		},
		{
			ID: "2.9", Title: "SIGTERM: requests in flight finish, then exit", Points: 3, Timeout: 12 * time.Second,
			Fresh: true, Stops: true,
			Why:   readme2 + "#graceful-shutdown",
			Hint:  "on SIGTERM, close the listener (new connections are refused), close idle connections, let each request in flight finish and send its response with Connection: close, then return from main; bound the wait with -shutdown-timeout.",
			Repro: "for i in 1 2 3 4; do curl -s -w ' %{http_code}\\n' 'http://{addr}/sleep?ms=800' & done; sleep 0.2; kill -TERM $(pgrep -f -- '-addr {addr}'); sleep 0.3; curl -s http://{addr}/hello; wait   # four 200s, then connection refused",
			Check: checkGraceful,
		},
	}
}

// answer is the outcome of one request among several sent at once.
type answer struct {
	r    *harness.Response
	err  error
	took time.Duration // from the request's send to its response (or error)
}

// describe says what came back: "200 OK after 512ms", or the error.
func (a answer) describe() string {
	if a.err != nil {
		return fmt.Sprintf("%s after %v", harness.DescribeNetError(a.err), a.took.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s after %v", status(a.r), a.took.Round(time.Millisecond))
}

// dialAll dials n connections, all before any request is sent.
func dialAll(t *spec.T, n int) []*harness.Conn {
	conns := make([]*harness.Conn, n)
	for i := range conns {
		conns[i] = t.Dial()
	}
	return conns
}

// sendAll sends req on every connection, the last dialled first: a server that accepts one connection at a
// time finds the first in its backlog with a request that was sent last, so the kernel cannot make it look
// concurrent. It reads every response at once, each waiting at most wait, and returns them in the order of
// conns.
func sendAll(conns []*harness.Conn, req string, wait time.Duration) []answer {
	out := make([]answer, len(conns))
	sent, arrived := make([]time.Time, len(conns)), make([]time.Time, len(conns))
	var wg sync.WaitGroup
	for i := len(conns) - 1; i >= 0; i-- {
		sent[i] = time.Now()
		if err := conns[i].SendString(req); err != nil {
			out[i].err = err
			arrived[i] = time.Now()
			continue
		}
		wg.Go(func() {
			out[i].r, out[i].err = conns[i].ReadResponse(wait, false)
			arrived[i] = time.Now()
		})
	}
	wg.Wait()
	for i := range out {
		out[i].took = arrived[i].Sub(sent[i])
	}
	return out
}

// allOK sends req on n new connections at once (sendAll, each answer waited for at most wait), fails the
// check for each answer that is not 200 OK, and returns how long they took in all and whether all were.
func allOK(t *spec.T, n int, req string, wait time.Duration) (time.Duration, bool) {
	start := time.Now()
	answers := sendAll(dialAll(t, n), req, wait)
	total := time.Since(start)
	ok := true
	for i, a := range answers {
		if a.err != nil || a.r.Status != 200 {
			t.Errorf("connection %d of %d: %s, want 200 OK", i+1, n, a.describe())
			ok = false
		}
	}
	return total, ok
}

// poolStats is what /stats answers: the app's own count of its calls.
type poolStats struct {
	Inflight    int64 `json:"inflight"`
	MaxInflight int64 `json:"max_inflight"`
	Calls       int64 `json:"calls"`
	Counter     int64 `json:"counter"`
}

// readStats reads /stats on a new connection; with reset, it also resets the peak and the totals.
func readStats(t *spec.T, reset bool) poolStats {
	target := "/stats"
	if reset {
		target += "?reset=1"
	}
	req := get(target, "Connection: close")
	r := roundTrip(t, t.Dial(), req, "200 OK and the app's gauge as JSON")
	wantStatus(t, r, req, 200)
	var s poolStats
	if err := json.Unmarshal(r.Body, &s); err != nil {
		t.Fatalf("%s: the body is not the JSON that /stats sends: %v", firstLine(req), err)
	}
	return s
}

// answeredQuickly sends GET /hello on a new connection and checks that 200 OK comes back within quick; while
// says what else is going on ("with 50 idle keep-alive connections open").
func answeredQuickly(t *spec.T, while string, quick time.Duration) {
	req := get("/hello")
	c := t.Dial()
	send(t, c, req, fmt.Sprintf("200 OK within %v, %s", quick, while))
	start := time.Now()
	r, err := c.ReadResponse(3*time.Second, false)
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case err != nil:
		t.Fatalf("a new connection's %s, %s: %v", firstLine(req), while, err)
	case r.Status != 200:
		t.Fatalf("a new connection's %s, %s: got %s, want 200 OK", firstLine(req), while, status(r))
	case took > quick:
		t.Errorf("a new connection's %s took %v %s, want under %v", firstLine(req), took, while, quick)
	}
}

// plural returns "1 connection", "2 connections".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// sleepReq asks the app to wait ms milliseconds.
func sleepReq(ms int) string { return get(fmt.Sprintf("/sleep?ms=%d", ms)) }

func checkConcurrent(t *spec.T) {
	const k, ms = 8, 500
	const limit = 2 * time.Second // 4 request-times; one at a time takes 8
	// Connection: close lets a server that serves one connection at a time go on to the next at once,
	// rather than wait out the idle timeout first: it then takes k request-times, no more.
	req := get(fmt.Sprintf("/sleep?ms=%d", ms), "Connection: close")
	t.Expect(req, "", fmt.Sprintf("%d answers 200 OK, all within about %d ms", k, ms))
	total, ok := allOK(t, k, req, 6*time.Second)
	if !ok {
		return
	}
	t.Note(fmt.Sprintf("%d requests of %d ms on %d connections took %v in all", k, ms, k, total.Round(time.Millisecond)))
	if total >= limit {
		t.Errorf("%d requests of %d ms, each on its own connection, took %v in all: they ran one after the other "+
			"(or a few at a time), while -workers 8 lets them all run at once in about %d ms", k, ms, total.Round(time.Millisecond), ms)
	}
}

func checkPoolBound(t *spec.T) {
	const n, ms, workers = 12, 300, 4 // the spec's -workers; its -queue of 16 holds the rest
	readStats(t, true)
	req := sleepReq(ms)
	t.Expect(req, "", fmt.Sprintf("%d answers 200 OK: %d run at once, the others wait in the queue", n, workers))
	for i, a := range sendAll(dialAll(t, n), req, 6*time.Second) {
		if a.err != nil || a.r.Status != 200 {
			t.Errorf("connection %d of %d: %s, want 200 OK: with -workers %d -queue 16, %d requests all fit", i+1, n, a.describe(), workers, n)
		}
	}
	s := readStats(t, false)
	t.Note(fmt.Sprintf("the app counted %d calls, at most %d at once", s.Calls, s.MaxInflight))
	switch {
	case s.MaxInflight > workers:
		t.Errorf("up to %d app calls ran at once with -workers %d: the pool must bound them, so that an overload "+
			"queues instead of taking all the memory and database connections", s.MaxInflight, workers)
	case s.MaxInflight < workers:
		t.Errorf("at most %d app calls ran at once while %d requests were waiting, with -workers %d: all %d workers "+
			"should have been busy", s.MaxInflight, n, workers, workers)
	}
	if s.Calls != n {
		t.Errorf("the app counted %d calls, want %d: one for each request", s.Calls, n)
	}
}

func checkOverload(t *spec.T) {
	const n, ms, workers, queue = 10, 1000, 2, 2 // the spec's flags
	const fast = 600 * time.Millisecond          // a 503 must not wait for a worker
	req := sleepReq(ms)
	t.Expect(req, "", fmt.Sprintf("%d to %d answers 200 OK, the others 503 Service Unavailable with Retry-After, at once", workers, workers+queue))
	answers := sendAll(dialAll(t, n), req, 4*time.Second)
	ok, busy := 0, 0
	for i, a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("connection %d of %d: %s: every request must get an answer, a 503 at once when the pool and its queue are full",
				i+1, n, a.describe())
		case a.r.Status == 200:
			ok++
		case a.r.Status == 503:
			busy++
			if a.took > fast {
				t.Errorf("connection %d of %d: %s: a 503 must come at once (under %v), not after waiting for a worker", i+1, n, a.describe(), fast)
			}
			if a.r.Get("Retry-After") == "" {
				t.Errorf("connection %d of %d: the 503 has no Retry-After header, which tells a client when to try again", i+1, n)
			}
		default:
			t.Errorf("connection %d of %d: %s, want 200 OK or 503 Service Unavailable", i+1, n, a.describe())
		}
	}
	t.Note(fmt.Sprintf("%d requests of %d ms with -workers %d -queue %d: %d got 200, %d got 503", n, ms, workers, queue, ok, busy))
	if ok > workers+queue {
		t.Errorf("%d requests got 200 OK, but -workers %d -queue %d can only run or hold %d at a time: the others "+
			"should have been answered 503 at once instead of waiting for room in the queue", ok, workers, queue, workers+queue)
	}
	if ok < workers && !t.Failed() {
		t.Errorf("only %d requests got 200 OK while %d workers were free at the start", ok, workers)
	}
	t.Run("recovery", func(t *spec.T) {
		next := get("/hello")
		r := roundTrip(t, t.Dial(), next, "200 OK once the overload is over")
		wantStatus(t, r, next, 200)
	})
}

func checkQueueTimeout(t *spec.T) {
	const ms, queueTimeout = 1000, 300 * time.Millisecond // the spec's -queue-timeout
	const head = 250 * time.Millisecond                   // for the sleep to reach the only worker first
	const tries = 3
	before := readStats(t, false).Counter
	ran := int64(0) // the calls of /counter that rightly ran
	for try := 1; ; try++ {
		busy := t.Dial()
		sleep := sleepReq(ms)
		send(t, busy, sleep, "200 OK")
		time.Sleep(head)

		req := get("/counter")
		start := time.Now()
		r := roundTrip(t, t.Dial(), req, "503 Service Unavailable, without running the app: the request waited for the only worker longer than -queue-timeout 300ms")
		waited := time.Since(start)
		t.Logf("try %d: %s got %s after %v", try, firstLine(req), status(r), waited.Round(time.Millisecond))
		rs := read(t, busy, sleep, "200 OK")
		wantStatus(t, rs, sleep, 200)
		if r.Status == 200 && waited < queueTimeout && try < tries {
			// Answered without waiting: on a loaded machine the sleep had not reached the worker yet.
			ran++
			continue
		}
		if r.Status == 200 && waited < queueTimeout {
			t.Errorf("%s: got 200 OK at once, %d times, though GET /sleep?ms=%d had been sent %v before it, with -workers 1: "+
				"does the app run on a pool of -workers?", firstLine(req), tries, ms, head)
			return
		}
		if r.Status == 200 {
			t.Errorf("%s: got 200 OK after %v; it waited for the only worker, busy with GET /sleep?ms=%d, longer than "+
				"-queue-timeout 300ms, and should have been answered 503 without running", firstLine(req), waited.Round(time.Millisecond), ms)
			return
		}
		wantStatus(t, r, req, 503)
		break
	}
	if after := readStats(t, false).Counter; after != before+ran {
		t.Errorf("the counter went from %d to %d: GET /counter ran though it was answered 503", before+ran, after)
	}
}

func checkIdleConns(t *spec.T) {
	const n = 50
	const quick = time.Second
	req := get("/hello")
	idle := make([]*harness.Conn, n)
	for i := range idle {
		c := t.Dial()
		send(t, c, req, "200 OK while the earlier connections sit idle")
		r, err := c.ReadResponse(2*time.Second, false)
		if err != nil {
			t.Fatalf("connection %d of %d: %s: %v; %s before it sat idle, each after one request: "+
				"an idle keep-alive connection must not hold a worker", i+1, n, firstLine(req), err, plural(i, "connection"))
		}
		wantStatus(t, r, req, 200)
		idle[i] = c
	}

	answeredQuickly(t, fmt.Sprintf("with %d idle keep-alive connections open", n), quick)

	var closed sync.WaitGroup
	var mu sync.Mutex
	var gone []int
	for i, c := range idle {
		closed.Go(func() {
			if c.ExpectQuiet(100*time.Millisecond) != nil {
				mu.Lock()
				gone = append(gone, i+1)
				mu.Unlock()
			}
		})
	}
	closed.Wait()
	if len(gone) > 0 {
		slices.Sort(gone)
		t.Errorf("%d of the %d idle connections were closed (connections %v) well before -idle-timeout 10s: "+
			"a server may not close keep-alive connections to free its workers", len(gone), n, gone)
	}
}

func checkRequestTimeout(t *spec.T) {
	const soon, late = 400 * time.Millisecond, 2 * time.Second // -request-timeout is 500ms
	const limit = 1500 * time.Millisecond
	slow := sleepReq(3000)
	t.Expect(slow, "", "504 Gateway Timeout about 500ms after the request (-request-timeout 500ms)")
	for i, a := range sendAll(dialAll(t, 2), slow, 5*time.Second) {
		switch {
		case a.err != nil:
			t.Errorf("request %d of 2: %s: %s", i+1, firstLine(slow), a.describe())
		case a.r.Status != 504:
			t.Errorf("request %d of 2: %s: got %s, want 504 Gateway Timeout about 500ms after the request (-request-timeout 500ms)",
				i+1, firstLine(slow), a.describe())
		case a.took < soon:
			t.Errorf("request %d of 2: %s: got %s, before -request-timeout (500ms) had passed", i+1, firstLine(slow), a.describe())
		case a.took > late:
			t.Errorf("request %d of 2: %s: got %s, want it about 500ms after the request (-request-timeout 500ms)", i+1, firstLine(slow), a.describe())
		}
	}
	if t.Failed() {
		return
	}
	t.Run("the pool recovered", func(t *spec.T) {
		req := sleepReq(200)
		t.Expect(req, "", fmt.Sprintf("two answers 200 OK within %v, while the two abandoned calls still sleep", limit))
		for i, a := range sendAll(dialAll(t, 2), req, 4*time.Second) {
			switch {
			case a.err != nil || a.r.Status != 200:
				t.Errorf("request %d of 2: %s: %s, want 200 OK", i+1, firstLine(req), a.describe())
			case a.took > limit:
				t.Errorf("request %d of 2: %s: 200 OK only after %v: the places of the abandoned calls, still "+
					"running, must go to the next requests, or each timeout costs the pool a worker", i+1, firstLine(req), a.took.Round(time.Millisecond))
			}
		}
	})
	if t.Failed() {
		return
	}
	t.Run("the queue kept its room", func(t *spec.T) {
		// -workers 2 -queue 8 hold 10 requests. The two requests above are counted out just after their
		// answers were written: a pause, and one request fewer than the bound, leave them time and room.
		const n = hungWorkers + queue2 - 1
		time.Sleep(200 * time.Millisecond)
		req := sleepReq(100)
		t.Expect(req, "", fmt.Sprintf("%d answers 200 OK, sent at once, while the two abandoned calls still sleep: "+
			"-workers %d -queue %d hold %d requests", n, hungWorkers, queue2, hungWorkers+queue2))
		for i, a := range sendAll(dialAll(t, n), req, 5*time.Second) {
			switch {
			case a.err != nil:
				t.Errorf("request %d of %d: %s: %s", i+1, n, firstLine(req), a.describe())
			case a.r.Status == 503:
				t.Errorf("request %d of %d: %s: got %s: an abandoned call must not keep taking room in the queue "+
					"while it runs on: whatever gives its place back counts it out too", i+1, n, firstLine(req), a.describe())
			case a.r.Status != 200:
				t.Errorf("request %d of %d: %s: got %s, want 200 OK", i+1, n, firstLine(req), a.describe())
			}
		}
	})
}

func checkSharedCounter(t *spec.T) {
	const clients, each = 8, 50
	before := readStats(t, false).Counter
	races := strings.Count(t.Server().Output(), spec.RaceWarning)

	req := get("/counter")
	t.Expect(req, "", fmt.Sprintf("200 OK and the counter's new value, %d times on each of %d connections at once", each, clients))
	values := make([][]int64, clients)
	var wg sync.WaitGroup
	for i, c := range dialAll(t, clients) {
		wg.Go(func() {
			for range each {
				if err := c.SendString(req); err != nil {
					t.Errorf("client %d: %s: %v", i+1, firstLine(req), err)
					return
				}
				r, err := c.ReadResponse(answerWait, false)
				if err != nil {
					t.Errorf("client %d: %s: %v", i+1, firstLine(req), err)
					return
				}
				v, err := strconv.ParseInt(strings.TrimSpace(string(r.Body)), 10, 64)
				if r.Status != 200 || err != nil {
					t.Errorf("client %d: %s: got %s %q, want 200 OK and a number", i+1, firstLine(req), status(r), r.Body)
					return
				}
				values[i] = append(values[i], v)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	after := readStats(t, false).Counter
	if after != before+clients*each {
		t.Errorf("%d clients each got %d answers from GET /counter, but the counter went from %d to %d, up by %d, not %d: "+
			"increments were lost", clients, each, before, after, after-before, clients*each)
	}
	all := slices.Concat(values...)
	slices.Sort(all)
	if dup := len(all) - len(slices.Compact(all)); dup > 0 {
		t.Errorf("%s repeated a value another request had already got: two increments read the same value", plural(dup, "answer"))
	}

	// The race detector prints its report from the server as the race happens; give the output a moment
	// to reach the grader.
	deadline := time.Now().Add(300 * time.Millisecond)
	for {
		out := t.Server().Output()
		if n := strings.Count(out, spec.RaceWarning); n > races {
			t.Errorf("the server, built with the race detector, reported a data race: the shared counter (or other " +
				"data) is used by several workers without a lock; see the report at the end")
			return
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkMultithread(t *spec.T) {
	req := get("/env")
	r := roundTrip(t, t.Dial(), req, "200 OK and an environ with wsgi.multithread true, wsgi.multiprocess false")
	wantStatus(t, r, req, 200)
	want := map[string]string{"wsgi.multithread": "true", "wsgi.multiprocess": "false"}
	t.Diff(firstLine(req)+": unexpected wsgi.* flags in the environ", want, pick(environ(t, r, req), keys(want)))
}

func checkGraceful(t *spec.T) {
	const n, ms = 4, 800
	const signalAfter, dialAfter = 200 * time.Millisecond, 300 * time.Millisecond
	const exitWithin = 3 * time.Second
	req := sleepReq(ms)
	t.Expect(req, "", fmt.Sprintf("%d answers 200 OK though SIGTERM came %v after the requests", n, signalAfter))
	conns := dialAll(t, n)
	var answers []answer
	done := make(chan struct{})
	go func() {
		defer close(done)
		answers = sendAll(conns, req, 4*time.Second)
	}()
	time.Sleep(signalAfter)
	if err := t.Server().Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("%v", err)
	}
	signalled := time.Now()

	t.Run("a new connection after SIGTERM", func(t *spec.T) {
		time.Sleep(dialAfter)
		c, err := harness.Dial(t.Addr(), spec.DialTimeout)
		if err != nil {
			t.Logf("refused, as it should be: %v", err)
			return
		}
		t.Track(c)
		next := get("/hello")
		t.Expect(next, "", "the connection refused, or closed without an answer")
		if err := c.SendString(next); err != nil {
			return
		}
		r, err := c.ReadResponse(exitWithin, false)
		var re *harness.ReadError
		switch {
		case err == nil && r.Status == 200:
			t.Errorf("a connection made %v after SIGTERM got 200 OK: on SIGTERM, stop accepting connections (close the listener)", dialAfter)
		case errors.As(err, &re) && re.Timeout():
			t.Errorf("a connection made %v after SIGTERM was accepted and left without an answer: close the listener on SIGTERM, so that new connections are refused", dialAfter)
		}
	})

	<-done
	for i, a := range answers {
		if a.err != nil || a.r.Status != 200 {
			t.Errorf("request %d of %d, in flight when SIGTERM came: %s, want 200 OK: requests in flight must be allowed to finish",
				i+1, n, a.describe())
		}
	}
	for {
		if exited, how := t.Server().Exited(); exited {
			t.Logf("the server exited %v after SIGTERM (%s)", time.Since(signalled).Round(time.Millisecond), how)
			if how != "exit status 0" {
				t.Errorf("the server exited with %s after SIGTERM; a server that shuts down as asked exits with status 0", how)
			}
			return
		}
		if time.Since(signalled) > exitWithin {
			t.Fatalf("the server was still running %v after SIGTERM, with no request left in flight", exitWithin)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
