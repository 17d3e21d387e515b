package spec

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"course/harness"
)

// DefaultGrace is how long a server has to exit after SIGTERM before it is killed.
const DefaultGrace = 3 * time.Second

// Config says what Run grades and how.
type Config struct {
	Chapter int
	Title   string // "blocking"
	Specs   []Spec
	// Server starts the server under test. Run adds each spec's Flags to Server.Flags.
	Server harness.ServerConfig
	// NoFlags says that the server takes no flags (a command given without {flags}): neither Server.Flags
	// nor a spec's Flags are passed, and the result of a spec with Flags of its own says so.
	NoFlags bool
	// Source is the folder of the Go package graded, when the grader built the server from source; empty
	// when it runs a command (-cmd). Checks that read the code look there (T.Source).
	Source string
	// Seed seeds the random bytes that checks send (T.Seed).
	Seed int64
	// Verbose keeps the transcripts of passing specs too.
	Verbose bool
	// Grace is how long a server has to exit after SIGTERM; 0 means DefaultGrace.
	Grace time.Duration
	// Progress, if not nil, is called with each result as soon as its spec has run.
	Progress func(Result)
	// Alive, if not nil, checks that the server at addr still answers. After a spec fails, a server that
	// does not is replaced for the next spec; if a new one does not answer either, the specs left are not
	// run, rather than each waiting out its time limit.
	Alive func(addr string) error
}

// Run runs the specs of cfg in order against one server, started before the first spec that needs it. When a
// spec leaves the server dead (or, with cfg.Alive, hung), the result says so and a new server is started for
// the next spec. A spec with Fresh or Flags gets a server of its own. When ctx is done, the running check is
// abandoned and the specs left are reported as not run.
func Run(ctx context.Context, cfg Config) Report {
	start := time.Now()
	r := &runner{cfg: cfg, rep: Report{Chapter: cfg.Chapter, Title: cfg.Title, Seed: cfg.Seed}}
	if r.cfg.Grace <= 0 {
		r.cfg.Grace = DefaultGrace
	}
	for i := range cfg.Specs {
		if sp := &cfg.Specs[i]; sp.Static && cfg.Source == "" {
			r.rep.Unread = append(r.rep.Unread, sp.ID+" "+sp.Title)
			continue
		}
		res := r.spec(ctx, &cfg.Specs[i])
		if res.Passed {
			res.Earned = res.Points
		}
		r.rep.Results = append(r.rep.Results, res)
		r.rep.Total += res.Points
		r.rep.Score += res.Earned
		if cfg.Progress != nil {
			cfg.Progress(res)
		}
	}
	if r.shared != nil {
		sd := r.stop(r.shared)
		r.checkRaces(r.shared, "")
		r.rep.Shutdown = &sd
		if sd.Killed && ctx.Err() == nil {
			r.rep.Problems = append(r.rep.Problems, fmt.Sprintf("the server did not exit within %s of SIGTERM and "+
				"was killed (%s): a server must stop when told to: on SIGTERM it stops accepting connections, "+
				"finishes the requests in flight, and exits", r.cfg.Grace, sd.Status))
		}
	}
	if ctx.Err() != nil {
		r.rep.Stopped = stopReason(ctx)
	}
	r.rep.Duration = time.Since(start)
	return r.rep
}

// runner holds the state of one Run.
type runner struct {
	cfg    Config
	rep    Report
	shared *harness.Server // the chapter's server, nil until started or after it died
	// noServer says why the chapter's server cannot be started or does not answer; the specs left are
	// not run, those with servers of their own included, which would fare no better.
	noServer string
	// stuck is the id of the spec after which the chapter's server stopped answering, until a new one
	// is seen to answer.
	stuck string
	// races counts the race reports already seen in each server's output.
	races map[*harness.Server]int
}

// spec runs one spec and returns its result.
func (r *runner) spec(ctx context.Context, sp *Spec) Result {
	res := Result{ID: sp.ID, Title: sp.Title, Points: sp.Points, Why: sp.Why, Hint: sp.Hint, Flags: sp.Flags}
	switch {
	case ctx.Err() != nil:
		res.Message = "not run: " + stopReason(ctx)
		return res
	case sp.Static:
		res.Ran = true
		res.Repro = sp.Repro
		r.check(ctx, sp, nil, &res)
		return res
	case r.noServer != "":
		res.Message = "not run: " + r.noServer
		return res
	}
	srv, err := r.server(sp, &res)
	if err != nil {
		res.Message = "not run: " + err.Error()
		return res
	}
	res.Ran = true
	res.Addr = srv.Addr()
	res.Repro = Expand(sp.Repro, srv.Addr())
	if r.cfg.NoFlags && len(sp.Flags) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("its server was started without the flags of this spec (%s): "+
			"the command has no {flags}", strings.Join(sp.Flags, " ")))
	}
	r.check(ctx, sp, srv, &res)

	if !res.Passed && res.Ran {
		// A failure may be the server dying: give its exit a moment to be seen, so that it is reported
		// here and the next spec gets a new server.
		for i := 0; i < 30 && !exited(srv); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if exited, status := srv.Exited(); exited && !(sp.Stops && sp.ownServer()) {
		res.Passed = false
		res.Message = join(res.Message, fmt.Sprintf("the server exited during this check (%s)", status))
		res.Server = fmt.Sprintf("the server exited (%s)%s", status, tail(srv.Output()))
		if !sp.ownServer() {
			r.stop(srv) // reap it, and find what it left behind
			r.checkRaces(srv, sp.ID)
			r.shared = nil
		}
	}
	if !res.Passed && res.Ran && r.cfg.Alive != nil && !exited(srv) && !sp.ownServer() {
		if err := r.cfg.Alive(srv.Addr()); err != nil {
			res.Server = fmt.Sprintf("after this check, GET /hello got no answer (%v); the server was restarted for the next spec", err)
			r.stop(srv)
			r.checkRaces(srv, sp.ID)
			r.shared = nil
			r.stuck = sp.ID
		}
	}
	if !sp.ownServer() {
		r.checkRaces(srv, sp.ID)
	} else {
		sd := r.stop(srv)
		r.checkRaces(srv, sp.ID)
		if sd.Killed && res.Server == "" {
			res.Logs = append(res.Logs, fmt.Sprintf("its server did not exit within %s of SIGTERM (%s)", r.cfg.Grace, sd.Status))
		}
	}
	return res
}

// server returns the server for sp: the chapter's, started if need be, or one of its own.
func (r *runner) server(sp *Spec, res *Result) (*harness.Server, error) {
	if sp.ownServer() {
		srv, err := r.start(sp.Flags)
		if err != nil {
			return nil, fmt.Errorf("its server did not start: %v", err)
		}
		return srv, nil
	}
	if r.shared != nil {
		if exited, status := r.shared.Exited(); exited {
			res.Notes = append(res.Notes, fmt.Sprintf("the server had exited since the last spec (%s); a new one was started%s",
				status, tail(r.shared.Output())))
			r.stop(r.shared)
			r.shared = nil
		}
	}
	if r.shared == nil {
		srv, err := r.start(nil)
		if err != nil {
			r.noServer = fmt.Sprintf("the server did not start (see %s)", sp.ID)
			return nil, fmt.Errorf("the server did not start: %s", strings.TrimRight(err.Error(), "\n"))
		}
		if r.stuck != "" && r.cfg.Alive != nil {
			if err := r.cfg.Alive(srv.Addr()); err != nil {
				r.stop(srv)
				r.noServer = fmt.Sprintf("a new server did not answer either (%v; see %s)", err, r.stuck)
				return nil, errors.New(r.noServer)
			}
		}
		r.stuck = ""
		r.shared = srv
	}
	return r.shared, nil
}

// start starts a server with the configured flags and extra.
func (r *runner) start(extra []string) (*harness.Server, error) {
	cfg := r.cfg.Server
	cfg.Flags = append(append([]string(nil), cfg.Flags...), extra...)
	if r.cfg.NoFlags {
		cfg.Flags = nil
	}
	return harness.Start(cfg)
}

// stop stops srv and records the processes it left behind as a problem of the run.
func (r *runner) stop(srv *harness.Server) Shutdown {
	st := srv.Stop(r.cfg.Grace)
	sd := Shutdown{Graceful: st.Graceful, After: st.After, Killed: st.Killed, Status: st.Status}
	for _, p := range st.Leftovers {
		sd.Leftovers = append(sd.Leftovers, fmt.Sprintf("pid %d (%s)", p.Pid, p.Cmdline))
	}
	if len(sd.Leftovers) > 0 {
		r.rep.Problems = append(r.rep.Problems, fmt.Sprintf("processes left behind: %s, still running when the "+
			"server's main process was gone, were killed. A server stops the processes it started before it "+
			"exits (a master sends its workers SIGTERM and waits for them), and a process it starts must not "+
			"outlive it", strings.Join(sd.Leftovers, ", ")))
	}
	return sd
}

// RaceWarning starts each report of Go's race detector in a program's output.
const RaceWarning = "WARNING: DATA RACE"

// checkRaces looks for race reports in srv's output that were not seen before, and records the first new
// one as a problem of the run. A race is a bug whichever spec was running: a server built with the race
// detector (as chapter 2's is) prints a report when two goroutines touch the same memory unsynchronized.
func (r *runner) checkRaces(srv *harness.Server, during string) {
	out := srv.Output()
	seen, n := r.races[srv], strings.Count(out, RaceWarning)
	if n <= seen {
		return
	}
	if r.races == nil {
		r.races = map[*harness.Server]int{}
	}
	r.races[srv] = n
	report := out
	for range seen + 1 {
		_, report, _ = strings.Cut(report, RaceWarning)
	}
	// Output reaches the grader a little after the server writes it: the spec named may be the one after.
	when := "after spec " + during
	if during == "" {
		when = "when it stopped at the end of the run"
	}
	intro := "Its report"
	if n-seen > 1 {
		intro = fmt.Sprintf("The first of its %d reports", n-seen)
	}
	r.rep.Problems = append(r.rep.Problems, fmt.Sprintf(
		"the server reported a data race, seen in its output %s: goroutines used the same memory at the same "+
			"time, at least one of them writing, without a lock or other synchronization. %s:\n%s",
		when, intro, raceSummary(report)))
}

// raceFrames is how many calls of each access's stack a summary of a race report keeps.
const raceFrames = 3

// raceSummary shortens the race report that starts report (after its WARNING line) to the two accesses
// that raced, each with the top of its stack: which goroutines, and where in the code.
func raceSummary(report string) string {
	report, _, _ = strings.Cut(report, "\n=====") // the line that ends a report
	lines := []string{RaceWarning}
	for i, access := range strings.Split(strings.Trim(report, "\n"), "\n\n") {
		if i == 2 { // what follows the two accesses is where their goroutines were created
			break
		}
		// A header ("Read at 0x... by goroutine 7:"), then two lines a call: the function, the file.
		ls := strings.Split(access, "\n")
		if keep := 1 + 2*raceFrames; len(ls) > keep {
			ls = append(ls[:keep], "  ...")
		}
		lines = append(lines, ls...)
	}
	return strings.Join(lines, "\n")
}

// check runs sp.Check in a goroutine of its own under the spec's time limit. A check still running at the
// limit is abandoned: its connections are closed, which unblocks it, and what it does after is ignored.
func (r *runner) check(ctx context.Context, sp *Spec, srv *harness.Server, res *Result) {
	rec := &record{spec: sp}
	t := &T{rec: rec, srv: srv, seed: r.cfg.Seed, source: r.cfg.Source}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		defer t.recoverPanic()
		sp.Check(t)
	}()
	timer := time.NewTimer(sp.timeout())
	defer timer.Stop()
	msg := ""
	select {
	case <-done:
	case <-timer.C:
		msg = fmt.Sprintf("the check did not finish within %s: the server may be hanging", sp.timeout())
	case <-ctx.Done():
		msg = "stopped: " + stopReason(ctx)
		res.Ran = false // cut short through no fault of the server
	}
	transcripts := rec.end(msg)
	if msg != "" {
		// Closing its connections unblocks the check; give it a moment to unwind before the next one.
		select {
		case <-done:
		case <-time.After(time.Second):
		}
	}
	res.Duration = time.Since(start)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	res.Passed = !rec.failed
	res.Message = strings.Join(rec.messages, "\n")
	res.Notes = append(res.Notes, rec.notes...)
	res.Logs = append(res.Logs, rec.logs...)
	if rec.failed {
		res.Details = rec.details
		res.Case = rec.failedIn
		hint, repro := sp.advice(rec.failedIn)
		res.Hint = hint
		if srv != nil {
			repro = Expand(repro, srv.Addr())
		}
		res.Repro = repro
	}
	for _, name := range rec.unknown {
		r.rep.Problems = append(r.rep.Problems, fmt.Sprintf("internal error in the grader (please report it): "+
			"spec %s runs a sub-case %q that its table of hints (Spec.Cases) does not name", sp.ID, name))
	}
	if rec.failed || r.cfg.Verbose {
		res.Transcripts = transcripts
	}
}

// exited reports whether srv's main process has exited.
func exited(srv *harness.Server) bool {
	ok, _ := srv.Exited()
	return ok
}

// stopReason says why ctx is done: its cause, if it has one of its own.
func stopReason(ctx context.Context) string {
	cause := context.Cause(ctx)
	switch {
	case cause != nil && cause != ctx.Err():
		return cause.Error()
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "the time limit of the whole run ran out"
	}
	return "the run was interrupted"
}

// tailLines is how many lines of a dead server's output a report shows.
const tailLines = 15

// tail returns the last lines of a server's output, introduced for a report, or "" if there is none.
func tail(out string) string {
	out = strings.TrimRight(out, "\n")
	if out == "" {
		return ""
	}
	lines := strings.Split(out, "\n")
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	return "; its last output:\n" + strings.Join(lines, "\n")
}

// join joins two messages with a newline, skipping an empty one.
func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n" + b
}
