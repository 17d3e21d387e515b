package spec

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"time"

	"course/harness"
)

// Report is the outcome of grading a chapter once.
type Report struct {
	Chapter int    `json:"chapter"`
	Title   string `json:"title"`            // "blocking"
	Target  string `json:"target,omitempty"` // what was graded: a folder or a command
	Seed    int64  `json:"seed"`             // -seed for the same random bytes
	Run     int    `json:"run,omitempty"`    // with -count: this run's number, from 1
	Runs    int    `json:"runs,omitempty"`   // with -count: how many runs were asked for

	// Results has one entry per spec selected, those that could not run included (a build failure, a server
	// that did not start), in order.
	Results []Result `json:"results"`
	Score   int      `json:"score"` // points of the passing specs
	Total   int      `json:"total"` // points of all the specs

	// Shutdown is how the chapter's server stopped at the end of the run, if one was running.
	Shutdown *Shutdown `json:"shutdown,omitempty"`
	// Problems are failures that belong to no spec: the build failed, the server did not start, processes
	// were left behind. Any problem fails the run.
	Problems []string `json:"problems,omitempty"`
	// Stopped says why the run ended before its last spec, when it did: the -timeout ran out, or an
	// interrupt.
	Stopped string `json:"stopped,omitempty"`
	// Output is the compiler's output when the build failed.
	Output string `json:"output,omitempty"`
	// Start is a command that starts the server by hand as the grader did, with "{addr}" (or "{port}") for
	// the address and "{flags}" for its flags, so that a person can try the repro lines (StartLine fills it
	// in); "" when there is no such command, as for a folder graded in a copy of the course.
	Start string `json:"start,omitempty"`
	// Flags are the flags every server of the run was started with, the chapter's; a spec's own Flags come
	// after them.
	Flags []string `json:"flags,omitempty"`
	// Notes are said before the results: what a person must know to read them, such as flags the server
	// was not given.
	Notes []string `json:"notes,omitempty"`
	// Again is the command that grades the same way again ("make grade CHAPTER=1"), when the grader knows it.
	Again string `json:"again,omitempty"`
	// Notice is said under the score: the learner's code uses the reference answer to the exercise.
	Notice string `json:"notice,omitempty"`
	// Unread are the specs that read the code ("3.1 title"), left out of the run and of the total when there
	// is no code to read: the grader runs a command (-cmd).
	Unread []string `json:"unread,omitempty"`
	// NextChapter is the chapter that follows, 0 for the last.
	NextChapter int `json:"next_chapter,omitempty"`

	Duration time.Duration `json:"duration_ns"`
}

// Result is the outcome of one spec.
type Result struct {
	ID       string        `json:"id"`
	Title    string        `json:"title"`
	Points   int           `json:"points"` // what passing is worth
	Earned   int           `json:"earned"` // the points earned: Points if it passed, else 0
	Passed   bool          `json:"passed"`
	Ran      bool          `json:"ran"` // false when the spec could not run: no server, or no time left
	Duration time.Duration `json:"duration_ns"`
	// Case is the sub-case of the first failure ("chunked"), whose hint and repro line are shown; "" when
	// the failure was in no sub-case.
	Case string `json:"case,omitempty"`
	// Message says what failed, one failure a line (a line may hold a diff).
	Message string   `json:"message,omitempty"`
	Details Details  `json:"details,omitzero"`
	Notes   []string `json:"notes,omitempty"` // shown whether the spec passed or not
	Logs    []string `json:"logs,omitempty"`  // shown with -v and under a failure
	// Transcripts are the bytes exchanged on each connection of the check; kept with -v or on failure.
	Transcripts []string `json:"transcripts,omitempty"`
	// Server says that the server exited during or right after this spec, with its status and last output.
	Server string   `json:"server,omitempty"`
	Addr   string   `json:"addr,omitempty"`  // the server's address during the spec
	Flags  []string `json:"flags,omitempty"` // the spec's extra server flags (Spec.Flags)
	Why    string   `json:"why,omitempty"`
	Hint   string   `json:"hint,omitempty"`
	Repro  string   `json:"repro,omitempty"` // with the real address filled in
}

// Shutdown is how a server stopped.
type Shutdown struct {
	// Graceful says that it exited on SIGTERM within the grace period, and so did every process it started:
	// none had to be killed.
	Graceful bool          `json:"graceful"`
	After    time.Duration `json:"after_ns"`         // from SIGTERM to the exit of its main process
	Killed   bool          `json:"killed,omitempty"` // its main process did not exit in time and was killed
	Status   string        `json:"status"`           // "exit status 0", "killed by signal 9 (SIGKILL)"
	// Leftovers are the other processes of the server still running when its main process was gone, which
	// were killed: "pid 1234 (sleep 100)".
	Leftovers []string `json:"leftovers,omitempty"`
}

// Details is the exchange in view when a spec failed. In JSON, bytes that are not UTF-8 show as U+FFFD.
type Details struct {
	Sent     string `json:"sent,omitempty"`
	Got      string `json:"got,omitempty"`
	Expected string `json:"expected,omitempty"`
	Diff     string `json:"diff,omitempty"` // go-cmp, (-want +got)
}

// Passed reports whether every spec passed and nothing else went wrong.
func (r *Report) Passed() bool {
	if len(r.Problems) > 0 || len(r.Results) == 0 {
		return false
	}
	for _, res := range r.Results {
		if !res.Passed {
			return false
		}
	}
	return true
}

// FirstFailure returns the first spec that failed, or nil.
func (r *Report) FirstFailure() *Result {
	for i := range r.Results {
		if !r.Results[i].Passed {
			return &r.Results[i]
		}
	}
	return nil
}

// StartLine returns the command that starts the server by hand as the grader started it at addr for a spec
// with the extra flags given: r.Start with the address and the flags (the run's, then extra) filled in. It
// returns "" when r.Start is.
func (r *Report) StartLine(addr string, extra []string) string {
	if r.Start == "" {
		return ""
	}
	line := r.Start
	if flags := strings.Join(append(slices.Clone(r.Flags), extra...), " "); flags != "" {
		line = strings.ReplaceAll(line, harness.FlagsPlaceholder, flags)
	} else {
		line = strings.ReplaceAll(strings.ReplaceAll(line, " "+harness.FlagsPlaceholder, ""), harness.FlagsPlaceholder, "")
	}
	return Expand(line, addr)
}

// NotRun returns the results of specs that could not run, for the reason why ("the build failed"): each
// earns nothing and says why.
func NotRun(specs []Spec, why string) []Result {
	rs := make([]Result, len(specs))
	for i, sp := range specs {
		rs[i] = Result{ID: sp.ID, Title: sp.Title, Points: sp.Points, Why: sp.Why, Hint: sp.Hint, Flags: sp.Flags,
			Message: "not run: " + why}
	}
	return rs
}

// WriteJSON writes r to w as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // a transcript's "> GET" stays readable
	return enc.Encode(r)
}

// LastWords returns the last line the server printed when it exited during this spec, or at its start when the
// spec could not run, or "": a server that stops with a message (such as a starter's "accept (loop.go) is not
// written yet") says there what to do. A server that panicked ends with a stack: its "panic:" line is
// returned instead.
func (r *Result) LastWords() string {
	said := r.Server
	if m, ok := strings.CutPrefix(r.Message, "not run: the server did not start: "); ok && !r.Ran {
		said = m
	}
	if !strings.HasPrefix(said, "the server exited") {
		return ""
	}
	_, out, ok := strings.Cut(said, "\n")
	if !ok {
		return ""
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}
