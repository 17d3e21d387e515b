package mutants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"course/grader/spec"
	"course/grader/specs"
	"course/harness"
)

// Confirm says which kills Run grades a second time, on the specs that failed, before it counts them: a
// mutant "killed" by a flake is a false result.
type Confirm int

// The kinds of kill to confirm.
const (
	ConfirmUnexpected Confirm = iota // a kill by none of the specs the mutant's row expects
	ConfirmAll                       // every kill
	ConfirmNone                      // none
)

// ParseConfirm parses "unexpected", "all" or "none".
func ParseConfirm(s string) (Confirm, error) {
	switch s {
	case "unexpected":
		return ConfirmUnexpected, nil
	case "all":
		return ConfirmAll, nil
	case "none":
		return ConfirmNone, nil
	}
	return 0, fmt.Errorf("-confirm %q: want unexpected, all or none", s)
}

// DefaultTimeout bounds each grade of a mutant (a run of the specs on its server) when Options.Timeout is 0.
const DefaultTimeout = 5 * time.Minute

// Options says how Run grades mutants.
type Options struct {
	Root     string        // the repository: the folder of go.work
	Fast     bool          // grade each mutant on the specs its row expects to kill it, not the chapter's all
	Confirm  Confirm       // which kills to confirm by grading again
	Parallel int           // mutants graded at once; 0 means 1
	Timeout  time.Duration // bounds each run of the specs on a server; 0 means DefaultTimeout
	Seed     int64         // seed of the random bytes the specs send
	// Baseline grades each chapter's reference server, unchanged, on the same specs before its mutants: if it
	// does not pass, a failing spec would say nothing about a mutant, and the chapter's mutants are not graded.
	Baseline bool
	// Progress, if not nil, is called with each result as soon as it is known, from one goroutine at a time.
	Progress func(Result)
	// Checked, if not nil, is called with each baseline as soon as it is known.
	Checked func(Baseline)
}

// The statuses of a Result.
const (
	Killed      = "killed"      // a spec failed, or the run had a problem (a data race, a server that did not stop)
	Survived    = "survived"    // every spec passed
	Equivalent  = "equivalent"  // every spec passed, as its row says they must
	Unconfirmed = "unconfirmed" // a spec failed once, but every spec passed when graded again: a flake
	Broken      = "broken"      // the row does not apply to the code, or the mutated server does not build
	NotGraded   = "not graded"  // the chapter's reference server failed the same specs, or the run was stopped
)

// Result is what grading one mutant found.
type Result struct {
	Name    string   `json:"name"`
	Chapter int      `json:"chapter"`
	File    string   `json:"file"`
	Status  string   `json:"status"`
	By      []string `json:"by,omitempty"`       // what failed: spec ids, "race", "problem"
	Expect  []string `json:"expected,omitempty"` // the row's Killers
	Message string   `json:"message,omitempty"`  // the first failure, or why the row is broken or not graded
	Reruns  int      `json:"reruns,omitempty"`   // grades to confirm the kill

	Bug        string `json:"bug"`                  // the row's: the learner's mistake
	Shows      string `json:"shows,omitempty"`      // the row's: what a spec would have to do to catch it
	Equivalent string `json:"equivalent,omitempty"` // the row's: why no spec can

	Duration time.Duration `json:"duration_ns"`
}

// Unexpected reports whether r is a kill by none of the specs its row expects.
func (r *Result) Unexpected() bool {
	return r.Status == Killed && !slices.ContainsFunc(r.By, func(k string) bool { return slices.Contains(r.Expect, k) })
}

// Baseline is the grade of a chapter's reference server, unchanged, on the specs its mutants are graded on.
type Baseline struct {
	Chapter int      `json:"chapter"`
	Passed  bool     `json:"passed"`
	Failed  []string `json:"failed,omitempty"` // what failed, as Result.By
	Message string   `json:"message,omitempty"`
}

// Run grades the mutants ms, chapter by chapter, and returns the report. It stops early, reporting the
// mutants left as not graded, when ctx is done.
func Run(ctx context.Context, ms []Mutant, o Options) *Report {
	start := time.Now()
	if o.Parallel < 1 {
		o.Parallel = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	rep := &Report{Fast: o.Fast}
	var mu sync.Mutex // guards rep.Results and calls of o.Progress
	record := func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		rep.Results = append(rep.Results, r)
		if o.Progress != nil {
			o.Progress(r)
		}
	}

	var chapters []int
	for _, m := range ms {
		if !slices.Contains(chapters, m.Chapter) {
			chapters = append(chapters, m.Chapter)
		}
	}
	slices.Sort(chapters)
	for _, n := range chapters {
		var mine []*Mutant
		for i := range ms {
			if ms[i].Chapter == n {
				mine = append(mine, &ms[i])
			}
		}
		if ctx.Err() != nil {
			for _, m := range mine {
				record(result(m, NotGraded, "the run was stopped"))
			}
			continue
		}
		g, err := newGrader(ctx, o, n)
		if err != nil {
			for _, m := range mine {
				record(result(m, Broken, err.Error()))
			}
			continue
		}
		if o.Baseline && ctx.Err() == nil {
			b := g.baseline(ctx, mine)
			rep.Baselines = append(rep.Baselines, b)
			if o.Checked != nil {
				o.Checked(b)
			}
			if !b.Passed {
				for _, m := range mine {
					record(result(m, NotGraded, fmt.Sprintf("the reference server of chapter %d failed too (%s)", n, strings.Join(b.Failed, " "))))
				}
				continue
			}
		}
		todo := make(chan *Mutant)
		var wg sync.WaitGroup
		for range o.Parallel {
			wg.Go(func() {
				for m := range todo {
					record(g.grade(ctx, m))
				}
			})
		}
		for _, m := range mine {
			todo <- m
		}
		close(todo)
		wg.Wait()
	}
	// Results come in the order they were found; the report keeps the tables' order.
	order := map[string]int{}
	for i, m := range ms {
		order[m.Name] = i
	}
	slices.SortStableFunc(rep.Results, func(a, b Result) int { return order[a.Name] - order[b.Name] })
	rep.score()
	rep.Duration = time.Since(start)
	return rep
}

// result returns the Result of m with status and message, graded no further.
func result(m *Mutant, status, msg string) Result {
	return Result{Name: m.Name, Chapter: m.Chapter, File: m.File, Status: status, Expect: m.Killers, Message: msg,
		Bug: m.Bug, Shows: m.Shows, Equivalent: m.Equivalent}
}

// grader grades the mutants of one chapter.
type grader struct {
	o    Options
	ch   *specs.Chapter
	dir  string          // the reference server's folder, solutions/NN-slug
	deps map[string]bool // the folders of the packages it is built from
}

func newGrader(ctx context.Context, o Options, chapter int) (*grader, error) {
	ch, err := specs.ForChapter(chapter)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(o.Root, "solutions", ch.Slug)
	deps, err := packageDirs(ctx, dir)
	if err != nil {
		return nil, err
	}
	return &grader{o: o, ch: ch, dir: dir, deps: deps}, nil
}

// packageDirs returns the folders of the packages the main package in dir is built from.
func packageDirs(ctx context.Context, dir string) (map[string]bool, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-f", "{{.Dir}}", ".")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return nil, fmt.Errorf("list the packages of %s: %w", dir, err)
	}
	deps := map[string]bool{}
	for _, d := range strings.Fields(string(out)) {
		deps[d] = true
	}
	return deps, nil
}

// selected returns the specs to grade ms on: those their rows expect (fast), or all the chapter's. Specs that
// read the code are left out: they read the files in the repository, not the mutated copy, and cannot see a
// mutant.
func (g *grader) selected(ms ...*Mutant) []spec.Spec {
	var out []spec.Spec
	for _, s := range g.ch.Specs {
		if s.Static {
			continue
		}
		if g.o.Fast && !slices.ContainsFunc(ms, func(m *Mutant) bool { return slices.Contains(m.Killers, s.ID) }) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// ids returns the specs whose ids are in want, in table order.
func (g *grader) ids(want []string) []spec.Spec {
	var out []spec.Spec
	for _, s := range g.ch.Specs {
		if slices.Contains(want, s.ID) {
			out = append(out, s)
		}
	}
	return out
}

// baseline grades the reference server, unchanged, on the specs the mutants ms will be graded on; a failure
// is graded again once before it counts.
func (g *grader) baseline(ctx context.Context, ms []*Mutant) Baseline {
	b := Baseline{Chapter: g.ch.Number}
	tmp, err := os.MkdirTemp("", "mutants-")
	if err != nil {
		b.Message = err.Error()
		return b
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "server")
	if err := harness.Build(ctx, g.dir, bin, g.ch.Race); err != nil {
		b.Message = err.Error()
		return b
	}
	sel := g.selected(ms...)
	for range 2 {
		rep := g.run(ctx, bin, sel)
		b.Failed, b.Message = failures(&rep)
		if b.Passed = len(b.Failed) == 0; b.Passed || ctx.Err() != nil {
			break
		}
	}
	return b
}

// grade builds the server of g's chapter with the mutant m and grades it.
func (g *grader) grade(ctx context.Context, m *Mutant) Result {
	start := time.Now()
	r := g.try(ctx, m)
	r.Duration = time.Since(start)
	return r
}

func (g *grader) try(ctx context.Context, m *Mutant) Result {
	if ctx.Err() != nil {
		return result(m, NotGraded, "the run was stopped")
	}
	tmp, err := os.MkdirTemp("", "mutants-")
	if err != nil {
		return result(m, NotGraded, err.Error())
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "server")
	if err := g.build(ctx, m, bin, tmp); err != nil {
		return result(m, Broken, err.Error())
	}

	sel := g.selected(m)
	rep := g.run(ctx, bin, sel)
	if ctx.Err() != nil {
		return result(m, NotGraded, "the run was stopped")
	}
	r := result(m, Survived, "")
	r.By, r.Message = failures(&rep)
	switch {
	case len(r.By) > 0:
		r.Status = Killed
	case m.Equivalent != "":
		r.Status = Equivalent
	}
	if r.Status == Killed && (g.o.Confirm == ConfirmAll || g.o.Confirm == ConfirmUnexpected && r.Unexpected()) {
		// Graded again on the specs that failed (all of them, for a problem of the run such as a race).
		again := g.ids(r.By)
		if len(again) == 0 {
			again = sel
		}
		r.Reruns++
		rep := g.run(ctx, bin, again)
		if by, _ := failures(&rep); len(by) == 0 && ctx.Err() == nil {
			r.Status = Unconfirmed
			r.Message = fmt.Sprintf("failed %s once, then passed when graded again: %s", strings.Join(r.By, " "), r.Message)
		}
	}
	return r
}

// Build builds the server of m's chapter with m applied into the executable out, as Run grades it; work is
// a folder for the mutated file. It is for a person who wants to try a mutant by hand.
func Build(ctx context.Context, root string, m *Mutant, out, work string) error {
	g, err := newGrader(ctx, Options{Root: root}, m.Chapter)
	if err != nil {
		return err
	}
	return g.build(ctx, m, out, work)
}

// Check checks that each mutant of ms is well formed and applies to the code: its row is valid, its old text
// occurs exactly once in its file, the file is part of its chapter's server, and the file's package compiles
// with the mutation. It returns one error per mutant that does not, in table order.
func Check(ctx context.Context, root string, ms []Mutant) []error {
	graders := map[int]*grader{}
	errs := make([]error, len(ms))
	sem := make(chan struct{}, checkParallel)
	var wg sync.WaitGroup
	for i := range ms {
		m := &ms[i]
		g, ok := graders[m.Chapter]
		if !ok {
			var err error
			if g, err = newGrader(ctx, Options{Root: root}, m.Chapter); err != nil {
				errs[i] = fmt.Errorf("mutant %s: %w", m.Name, err)
				continue
			}
			graders[m.Chapter] = g
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = g.compile(ctx, m)
		})
	}
	wg.Wait()
	return slices.DeleteFunc(errs, func(err error) bool { return err == nil })
}

// checkParallel is how many compilations Check runs at once: each is mostly the go command starting up and
// reading the build cache, which leaves the cores idle.
const checkParallel = 4

// overlay checks m and writes its mutated file and the overlay that puts it in the place of the real one
// into the folder tmp, and returns the overlay's file.
func (g *grader) overlay(m *Mutant, tmp string) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	real, err := filepath.Abs(filepath.Join(g.o.Root, m.File))
	if err != nil {
		return "", err
	}
	if !g.deps[filepath.Dir(real)] {
		return "", fmt.Errorf("mutant %s: %s is not part of chapter %d's server (built from %s)", m.Name, m.File, g.ch.Number, g.dir)
	}
	text, err := m.Apply(g.o.Root)
	if err != nil {
		return "", err
	}
	mutated := filepath.Join(tmp, filepath.Base(m.File))
	if err := os.WriteFile(mutated, []byte(text), 0o644); err != nil {
		return "", err
	}
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {real: mutated}})
	if err != nil {
		return "", err
	}
	file := filepath.Join(tmp, "overlay.json")
	return file, os.WriteFile(file, overlay, 0o644)
}

// build compiles the chapter's server with m applied into bin, through an overlay in the folder tmp.
func (g *grader) build(ctx context.Context, m *Mutant, bin, tmp string) error {
	overlay, err := g.overlay(m, tmp)
	if err != nil {
		return err
	}
	if err := harness.BuildOverlay(ctx, g.dir, bin, g.ch.Race, overlay); err != nil {
		return fmt.Errorf("mutant %s does not build: %w", m.Name, err)
	}
	return nil
}

// compile checks that the package of m's file compiles with m applied. It neither links the server nor
// compiles the packages that import that one, which takes a fraction of the time of a build; a mutant that
// changes no exported name cannot break them.
func (g *grader) compile(ctx context.Context, m *Mutant) error {
	tmp, err := os.MkdirTemp("", "mutants-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	overlay, err := g.overlay(m, tmp)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "list", "-export", "-overlay", overlay, "-f", "{{.Export}}", ".")
	cmd.Dir = filepath.Join(g.o.Root, filepath.Dir(m.File))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mutant %s does not compile: %w\n%s", m.Name, err, out)
	}
	return nil
}

// run grades the server bin with the specs sel, as the grader grades a folder: the chapter's flags, the
// reference server's folder as the working directory and the Source, and GORACE set so that a server built
// with the race detector does not sleep a second as it exits.
func (g *grader) run(ctx context.Context, bin string, sel []spec.Spec) spec.Report {
	ctx, cancel := context.WithTimeoutCause(ctx, g.o.Timeout,
		fmt.Errorf("the time limit of a mutant's grade (%v) ran out", g.o.Timeout))
	defer cancel()
	cfg := spec.Config{
		Chapter: g.ch.Number,
		Title:   g.ch.Title,
		Specs:   sel,
		Server:  harness.ServerConfig{Command: []string{bin, "-addr", "{addr}", harness.FlagsPlaceholder}, Flags: g.ch.Flags, Dir: g.dir},
		Source:  g.dir,
		Seed:    g.o.Seed,
		Alive:   specs.Alive,
	}
	if g.ch.Race && os.Getenv("GORACE") == "" {
		cfg.Server.Env = []string{"GORACE=atexit_sleep_ms=0"}
	}
	return spec.Run(ctx, cfg)
}

// failures returns what failed in rep (the ids of the specs that did not pass, Race for a data race,
// "problem" for another problem of the run, "time" when the time limit cut it short) and the first failure's
// message.
func failures(rep *spec.Report) (by []string, msg string) {
	for _, r := range rep.Results {
		if !r.Passed {
			by = append(by, r.ID)
			if msg == "" {
				msg = r.ID + ": " + firstLine(r.Message)
			}
		}
	}
	for _, p := range rep.Problems {
		kind := "problem"
		if strings.Contains(p, spec.RaceWarning) {
			kind = Race
		}
		if !slices.Contains(by, kind) {
			by = append(by, kind)
		}
		if msg == "" {
			msg = kind + ": " + firstLine(p)
		}
	}
	if rep.Stopped != "" {
		by = append(by, "time")
		if msg == "" {
			msg = rep.Stopped
		}
	}
	return by, msg
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
