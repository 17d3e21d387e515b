package specs

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"course/grader/spec"
	"course/harness"
)

// stopPlan is what a chapter's SIGTERM spec has open when the signal comes. Every chapter's server gets the
// same check (shutdownSpec), sized for what its architecture holds at once.
type stopPlan struct {
	id  string
	why string // the README section on the chapter's shutdown
	// idle is how many keep-alive connections sit idle, each after one request, when the signal comes.
	idle int
	// inFlight is how many requests of stopShort run, or wait for a worker, when the signal comes.
	inFlight int
	// shutdownTimeout is the -shutdown-timeout the spec's server gets; one request then runs past it, which the
	// server must not wait for. Zero for a chapter whose server has no such flag.
	shutdownTimeout time.Duration
	// flags are the chapter's own, to give its server room for idle+inFlight+1 connections at once.
	flags []string
}

// The timing of a SIGTERM spec. The server gets -idle-timeout 15s, the default of the course's servers, in
// place of the grader's 1s, which would hide a server that waits out its idle connections before it exits.
const (
	stopIdleTimeout = "15s"
	stopShort       = 400 * time.Millisecond // a request in flight
	stopLong        = 20 * time.Second       // the request past -shutdown-timeout
	stopSignalAfter = 200 * time.Millisecond // from the last request sent to the signal
	stopDialAfter   = 300 * time.Millisecond // from the signal to the connection that must be refused
	// stopAtOnce bounds what must happen at once after the signal, or after the last response: an idle
	// connection closed, a connection closed after its response, the exit. It is a margin for a loaded
	// machine, far below the idle timeout that a server waiting for its connections would take.
	stopAtOnce = 1500 * time.Millisecond
	// stopPoolGrace is what a server may take after -shutdown-timeout to stop its workers: the course's
	// servers give their pool a second.
	stopPoolGrace = time.Second
)

// shutdownSpec returns the SIGTERM spec of a chapter: with idle keep-alive connections open and requests in
// flight, the server stops accepting, closes the idle connections at once, lets the requests in flight finish
// with their whole response, and exits with status 0 soon after, leaving no process behind.
func shutdownSpec(p stopPlan) spec.Spec {
	flags := []string{"-idle-timeout", stopIdleTimeout}
	title := "SIGTERM: idle connections close, then exit"
	if p.inFlight > 0 {
		title = "SIGTERM: requests finish, idle connections close"
	}
	if p.shutdownTimeout > 0 {
		flags = append(flags, "-shutdown-timeout", p.shutdownTimeout.String())
	}
	flags = append(flags, p.flags...)
	sigterm := "kill -TERM $(pgrep -nf -- '-addr {addr}')"
	idleRepro := "(printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n'; sleep 20) | nc {host} {port} & sleep 0.5; " + sigterm + "; time wait   # with -idle-timeout 15s: nc ends at once, not after 15 s"
	flightRepro := fmt.Sprintf("for i in $(seq %d); do curl -s -w ' %%{http_code}\\n' 'http://{addr}/sleep?ms=%d' & done; sleep 0.2; %s; wait   # every one 200",
		max(p.inFlight, 1), stopShort.Milliseconds(), sigterm)
	exitRepro := idleRepro
	if p.shutdownTimeout > 0 {
		exitRepro = fmt.Sprintf("curl -s 'http://{addr}/sleep?ms=%d' & sleep 0.2; %s; time wait   # with -shutdown-timeout %v: cut after about %v",
			stopLong.Milliseconds(), sigterm, p.shutdownTimeout, p.shutdownTimeout)
	}
	return spec.Spec{
		ID: p.id, Title: title, Points: 3, Timeout: 15 * time.Second,
		Flags: flags, Stops: true,
		Why: p.why,
		Hint: "on SIGTERM, stop accepting (close the listening socket), close the idle keep-alive connections at once, let " +
			"each request in flight finish and send its whole response, then close its connection and exit with status 0, " +
			"within -shutdown-timeout if the server has one.",
		Repro: idleRepro,
		Cases: map[string]spec.Case{
			"idle connections": {
				Hint: "on SIGTERM, close at once the keep-alive connections that wait for their next request: waiting out " +
					"their idle timeout (15 s by default) delays the exit for nothing, and whoever sent SIGTERM may kill the " +
					"server before then.",
				Repro: idleRepro,
			},
			"a new connection after SIGTERM": {
				Hint: "on SIGTERM, stop accepting: close the listening socket, so that new connections are refused at once " +
					"(a load balancer then sends them to another server) rather than accepted and left unanswered.",
				Repro: "sleep 20 | nc {host} {port} & sleep 0.5; " + sigterm + "; sleep 0.3; curl -sv http://{addr}/hello   # connection refused",
			},
			"requests in flight": {
				Hint: "on SIGTERM, let every request already read finish, those waiting for a worker too: each gets its whole " +
					"response, then its connection is closed, at once rather than after the idle timeout. A client must " +
					"not lose a request it sent before the signal.",
				Repro: flightRepro,
			},
			"the exit": {
				Hint: "once no request is left in flight, exit with status 0, and leave no process behind; with " +
					"-shutdown-timeout, stop waiting for the requests still running when it has passed, and exit.",
				Repro: exitRepro,
			},
		},
		Check: checkShutdown(p),
	}
}

// flight is a request sent before SIGTERM and what became of it.
type flight struct {
	req    string
	r      *harness.Response
	err    error
	at     time.Time // when its answer (or error) came
	closed error     // after a whole answer: nil if the server then closed the connection within stopAtOnce
}

func checkShutdown(p stopPlan) func(t *spec.T) {
	return func(t *spec.T) {
		hello := get("/hello")
		idle := make([]*harness.Conn, p.idle)
		for i := range idle {
			c := t.Dial()
			r := roundTrip(t, c, hello, "200 OK, and the connection kept open")
			wantStatus(t, r, hello, 200)
			idle[i] = c
		}

		short := sleepReq(int(stopShort.Milliseconds()))
		reqs := make([]string, p.inFlight, p.inFlight+1)
		for i := range reqs {
			reqs[i] = short
		}
		long := p.shutdownTimeout > 0
		if long {
			reqs = append(reqs, sleepReq(int(stopLong.Milliseconds())))
		}
		flights := make([]flight, len(reqs))
		conns := dialAll(t, len(reqs))
		var wg sync.WaitGroup
		for i, c := range conns {
			f := &flights[i]
			f.req = reqs[i]
			if err := c.SendString(f.req); err != nil {
				t.Fatalf("sending %s: %v", firstLine(f.req), err)
			}
			if i == p.inFlight {
				continue // the long request: nobody waits for its answer, the exit says whether the server did
			}
			wg.Go(func() {
				f.r, f.err = c.ReadResponse(5*time.Second, false)
				f.at = time.Now()
				if f.err == nil {
					f.closed = c.ExpectClosed(stopAtOnce)
				}
			})
		}
		time.Sleep(stopSignalAfter)
		if err := t.Server().Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("%v", err)
		}
		signalled := time.Now()
		t.Logf("SIGTERM sent, with %s idle and %s in flight", plural(p.idle, "keep-alive connection"), plural(len(reqs), "request"))

		// The idle connections must close at once; watched from the signal on.
		closedIdle := make([]error, len(idle))
		for i, c := range idle {
			wg.Go(func() { closedIdle[i] = c.ExpectClosed(stopAtOnce) })
		}

		t.Run("a new connection after SIGTERM", func(t *spec.T) { newConnRefused(t) })
		wg.Wait()

		open := 0
		t.Run("idle connections", func(t *spec.T) {
			for i, err := range closedIdle {
				if err != nil {
					open++
					t.Errorf("idle connection %d of %d, open since its GET /hello: %v after SIGTERM; with -idle-timeout %s, a "+
						"server that waits for its idle connections takes that long to stop", i+1, len(idle), err, stopIdleTimeout)
				}
			}
		})

		last := signalled
		t.Run("requests in flight", func(t *spec.T) {
			for i, f := range flights[:p.inFlight] {
				last = maxTime(last, f.at)
				what := fmt.Sprintf("request %d of %d (%s), in flight when SIGTERM came", i+1, p.inFlight, firstLine(f.req))
				switch {
				case f.err != nil:
					t.Errorf("%s: %v: a request in flight must be allowed to finish", what, f.err)
				case f.r.Status != 200:
					t.Errorf("%s: got %s, want 200 OK: a request in flight, or waiting for a worker, must be run, not refused", what, status(f.r))
				case string(f.r.Body) != fmt.Sprintf("slept %d ms\n", stopShort.Milliseconds()):
					t.Errorf("%s: the body is %q, want %q", what, f.r.Body, fmt.Sprintf("slept %d ms\n", stopShort.Milliseconds()))
				case f.closed != nil:
					t.Errorf("%s: after its whole response: %v; while the server stops, a connection whose request is "+
						"answered is idle, and must be closed at once", what, f.closed)
				}
			}
		})

		t.Run("the exit", func(t *spec.T) {
			within := stopAtOnce
			deadline := last.Add(within)
			if long {
				within = p.shutdownTimeout + stopPoolGrace + stopAtOnce
				deadline = signalled.Add(within)
			}
			for {
				if gone, how := t.Server().Exited(); gone {
					t.Logf("the server exited %v after SIGTERM (%s)", time.Since(signalled).Round(time.Millisecond), how)
					if how != "exit status 0" {
						t.Errorf("the server exited with %s after SIGTERM; a server that shuts down as asked exits with status 0", how)
					}
					break
				}
				if time.Now().After(deadline) {
					why := "with no request left in flight"
					switch {
					case open > 0:
						why = "with idle keep-alive connections still open: does it wait for them?"
					case long:
						why = fmt.Sprintf("while GET /sleep?ms=%d still ran: with -shutdown-timeout %v, the server must stop waiting for it, and exit",
							stopLong.Milliseconds(), p.shutdownTimeout)
					}
					t.Fatalf("the server was still running %v after SIGTERM, %s", time.Since(signalled).Round(time.Millisecond), why)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if left := t.Server().Leftovers(); len(left) > 0 {
				var ps []string
				for _, p := range left {
					ps = append(ps, fmt.Sprintf("pid %d (%s)", p.Pid, p.Cmdline))
				}
				t.Errorf("the server exited, leaving %s running: every process of the server must stop with it", strings.Join(ps, ", "))
			}
		})
	}
}

// newConnRefused checks that a connection made stopDialAfter after SIGTERM is refused, or closed without an
// answer: the listening socket must be closed.
func newConnRefused(t *spec.T) {
	time.Sleep(stopDialAfter)
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
	r, err := c.ReadResponse(stopAtOnce+time.Second, false)
	var re *harness.ReadError
	switch {
	case err == nil && r.Status == 200:
		t.Errorf("a connection made %v after SIGTERM got 200 OK: on SIGTERM, stop accepting connections (close the listening socket)", stopDialAfter)
	case errors.As(err, &re) && re.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
		t.Errorf("a connection made %v after SIGTERM was accepted and left without an answer: close the listening socket on SIGTERM, so that new connections are refused", stopDialAfter)
	}
}

// maxTime returns the later of a and b.
func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
