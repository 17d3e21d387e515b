// Command grader grades a chapter's server: it builds it, starts it on a free port of 127.0.0.1, runs the
// chapter's specs against it over TCP, and prints one line per spec as it goes and the score.
//
// Usage:
//
//	grader -chapter N [-dir DIR | -cmd 'CMD'] [-run REGEXP] [-json] [-v] [-seed S] [-race] [-count N] [-timeout D]
//	grader -chapter N -watch [-poll] [...]   grade again each time a file of the chapter changes
//	grader -chapter N -hint                   the hint for the first spec your last grade did not pass
//
// By default it grades chapters/NN-slug of the course repository, found by walking up from the working
// directory to go.work. With -cmd it grades any executable instead, such as a server written in Python:
// {addr}, {host} and {port} in CMD are replaced by the address chosen, and the chapter's flags are appended.
//
// The exit status is 0 when every spec passes, 1 when some fail, and 2 for a usage error or a build failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"course/grader/spec"
	"course/grader/specs"
	"course/harness"
)

// Exit statuses.
const (
	exitPass  = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	// Piped into head, the grader must not die of a broken pipe before it has stopped the server.
	signal.Ignore(syscall.SIGPIPE)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command-line flags.
type options struct {
	chapter int
	dir     string
	cmd     string
	run     string
	json    bool
	verbose bool
	seed    int64
	race    bool
	count   int
	timeout time.Duration
	hint    bool
	watch   bool
	poll    bool
}

// usageError is a mistake on the command line: it is printed with the usage, and the exit status is 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("grader", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.chapter, "chapter", 0, "the chapter to grade, `N` (required)")
	fs.StringVar(&o.dir, "dir", "", "grade the Go server in `DIR` (default: chapters/NN-slug of the repository)")
	fs.StringVar(&o.cmd, "cmd", "", "grade the server that `CMD` starts, any language; {addr}, {host} and {port} are replaced")
	fs.StringVar(&o.run, "run", "", "run only the specs whose id matches `REGEXP` (the whole id: 1.4, 1.1[0-9]) or, if none does, whose title does")
	fs.BoolVar(&o.json, "json", false, "print the report as one JSON document")
	fs.BoolVar(&o.verbose, "v", false, "show the bytes sent and received for every spec")
	fs.Int64Var(&o.seed, "seed", 0, "seed `S` for the random bytes sent (default: from the clock; printed, to repeat a run)")
	fs.BoolVar(&o.race, "race", false, "build with the race detector (chapters that grade data races always do)")
	fs.IntVar(&o.count, "count", 1, "grade `N` times in a row, stopping at the first run that fails")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "bound the whole run, build included, to `D`")
	fs.BoolVar(&o.hint, "hint", false, "show the hint for the first spec your last grade of the chapter did not pass")
	fs.BoolVar(&o.watch, "watch", false, "grade again each time a file of the chapter changes (Ctrl-C to stop)")
	fs.BoolVar(&o.poll, "poll", false, "with -watch: poll for changes instead of using inotify")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: grader -chapter N [-dir DIR | -cmd 'CMD'] [-run REGEXP] [-json] [-v] [-seed S] [-race] [-count N] [-timeout D]\n\n")
		fmt.Fprintf(stderr, "Builds the server of chapter N, starts it on a free port of 127.0.0.1, runs the chapter's specs\n")
		fmt.Fprintf(stderr, "against it and prints the score. Exit status: 0 all pass, 1 some fail, 2 usage or build error.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, &usageError{fmt.Sprintf("unexpected arguments %q (flags go before, as in -chapter 1)", fs.Args())}
	case o.chapter == 0:
		return nil, &usageError{fmt.Sprintf("which chapter? give -chapter N (chapters with specs: %v)", specs.Numbers())}
	case o.dir != "" && o.cmd != "":
		return nil, &usageError{"give -dir or -cmd, not both"}
	case o.count < 1:
		return nil, &usageError{fmt.Sprintf("-count %d: it must be at least 1", o.count)}
	case o.timeout <= 0:
		return nil, &usageError{fmt.Sprintf("-timeout %v: it must be positive", o.timeout)}
	case o.watch && (o.json || o.count > 1):
		return nil, &usageError{"-watch is for a person at a terminal: it does not go with -json or -count"}
	}
	if o.seed == 0 {
		o.seed = time.Now().UnixNano()
	}
	return o, nil
}

// run is the whole command; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitPass
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "grader: %s\nRun grader -h for the flags.\n", ue.msg)
		return exitUsage
	}
	if err != nil {
		return exitUsage // the flag package has printed the problem and the usage
	}
	// First, so that the daemons a server may start stay our descendants and can be found and killed.
	if err := harness.BecomeSubreaper(); err != nil {
		fmt.Fprintf(stderr, "grader: warning: %v: processes that a server leaves behind may go unnoticed\n", err)
	}
	ch, err := specs.ForChapter(o.chapter)
	if err != nil {
		fmt.Fprintf(stderr, "grader: %v\n", err)
		return exitUsage
	}
	selected, err := filterSpecs(ch.Specs, o.run)
	if err != nil {
		fmt.Fprintf(stderr, "grader: %v\n", err)
		return exitUsage
	}
	// The learner's own chapter: its last report is kept for -hint.
	learner := o.dir == "" && o.cmd == ""
	root, rootErr := repoRoot()
	if o.hint {
		if rootErr != nil {
			fmt.Fprintf(stderr, "grader: %v\n", rootErr)
			return exitUsage
		}
		return showHint(stdout, root, ch)
	}
	if o.watch {
		return watchChapter(o, args, ch, stdout, stderr)
	}

	ctx, cancel := context.WithTimeoutCause(context.Background(), o.timeout,
		fmt.Errorf("the time limit of the whole run (-timeout %v) ran out", o.timeout))
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	color := false
	if f, ok := stdout.(*os.File); ok && !o.json {
		color = spec.UseColor(f)
	}
	p := &spec.Printer{W: stdout, Color: color, Verbose: o.verbose}
	base := spec.Report{Chapter: ch.Number, Title: ch.Title, Seed: o.seed}
	if _, err := specs.ForChapter(ch.Number + 1); err == nil {
		base.NextChapter = ch.Number + 1
	}

	// A first build compiles the standard library too (with the race detector, an instrumented copy of it):
	// say so when it is slow.
	slow := time.AfterFunc(3*time.Second, func() {
		if o.race || ch.Race {
			fmt.Fprintln(stderr, "grader: building the server with the race detector (the first time takes a minute or two; later builds are cached)…")
		} else {
			fmt.Fprintln(stderr, "grader: building the server (the first time takes a little longer; later builds are cached)…")
		}
	})
	tg, err := prepare(ctx, o, ch)
	slow.Stop()
	if tg != nil && tg.cleanup != nil {
		defer tg.cleanup()
	}
	if err != nil {
		var be *buildError
		if !errors.As(err, &be) {
			fmt.Fprintf(stderr, "grader: %v\n", err)
			return exitUsage
		}
		rep := base
		rep.Target = be.target
		rep.Problems = []string{fmt.Sprintf("the build of %s failed: fix the compiler errors below", be.target)}
		rep.Output = be.output
		rep.Start = be.start
		for _, s := range selected {
			rep.Total += s.Points
		}
		if learner && rootErr == nil {
			saveReport(root, &rep)
		}
		emit(p, &rep, o.json, stdout)
		return exitUsage
	}

	cfg := spec.Config{
		Chapter: ch.Number,
		Title:   ch.Title,
		Specs:   selected,
		Server:  tg.server,
		Source:  tg.source,
		Seed:    o.seed,
		Verbose: o.verbose,
		Alive:   specs.Alive,
	}
	status := exitPass
	for i := 1; i <= o.count; i++ {
		head := base
		head.Target, head.Run, head.Runs = tg.name, i, o.count
		if !o.json {
			p.Header(&head)
			cfg.Progress = func(res spec.Result) { p.Result(&res) }
		}
		rep := spec.Run(ctx, cfg)
		rep.Target, rep.Run, rep.Runs = tg.name, i, o.count
		rep.Start, rep.NextChapter = tg.start, base.NextChapter
		if learner {
			rep.Notice = referenceNotice(tg.server.Dir, ch.Reference)
		}
		if o.count == 1 {
			rep.Run, rep.Runs = 0, 0
		}
		passed := rep.Passed()
		if learner && rootErr == nil && o.run == "" {
			saveReport(root, &rep)
		}
		if o.json {
			if !passed || i == o.count {
				rep.WriteJSON(stdout)
			}
		} else {
			p.Footer(&rep)
			if o.run != "" && len(selected) < len(ch.Specs) {
				fmt.Fprintf(stdout, "(only the %d of %d specs that match -run %q)\n", len(selected), len(ch.Specs), o.run)
			}
		}
		if !passed {
			status = exitFail
			break
		}
	}
	return status
}

// watchChapter grades the chapter with the same flags, less -watch, each time one of its files changes.
func watchChapter(o *options, args []string, ch *specs.Chapter, stdout, stderr io.Writer) int {
	dir := o.dir
	switch {
	case o.cmd != "":
		dir = "."
	case dir == "":
		root, err := repoRoot()
		if err != nil {
			fmt.Fprintf(stderr, "grader: %v\n", err)
			return exitUsage
		}
		dir = filepath.Join(root, "chapters", ch.Slug)
	}
	var rest []string
	for _, a := range args {
		switch strings.TrimLeft(a, "-") {
		case "watch", "watch=true", "poll", "poll=true":
		default:
			rest = append(rest, a)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return watchLoop(ctx, dir, o.poll, func() { run(rest, stdout, stderr) }, stdout)
}

// referenceNotice says which reference answers the Go files of dir use, if any.
func referenceNotice(dir string, refs []string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	var used []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, ref := range refs {
			if strings.Contains(string(data), ref) && !slices.Contains(used, ref) {
				used = append(used, ref)
			}
		}
	}
	if len(used) == 0 {
		return ""
	}
	return fmt.Sprintf("your server calls %s, the course's reference answer to this chapter's exercise: "+
		"the points count, but the exercise is to write it yourself.", strings.Join(used, ", "))
}

// emit prints a report that was not produced by a run, as text or JSON.
func emit(p *spec.Printer, rep *spec.Report, json bool, stdout io.Writer) {
	if json {
		rep.WriteJSON(stdout)
		return
	}
	p.Print(rep)
}

// filterSpecs returns the specs whose whole id matches the pattern or, when no id does, those whose title
// contains a match (ignoring case): "1.4" is spec 1.4 and not every title that mentions HTTP/1.1. An empty
// pattern selects them all.
func filterSpecs(all []spec.Spec, pattern string) ([]spec.Spec, error) {
	if pattern == "" {
		return all, nil
	}
	id, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return nil, fmt.Errorf("-run %q: %v", pattern, err)
	}
	title := regexp.MustCompile("(?i)" + pattern)
	var byID, byTitle []spec.Spec
	for _, s := range all {
		if id.MatchString(s.ID) {
			byID = append(byID, s)
		}
		if title.MatchString(s.Title) {
			byTitle = append(byTitle, s)
		}
	}
	switch {
	case len(byID) > 0:
		return byID, nil
	case len(byTitle) > 0:
		return byTitle, nil
	}
	var ids []string
	for _, s := range all {
		ids = append(ids, s.ID)
	}
	return nil, fmt.Errorf("-run %q matches no spec (ids: %s)", pattern, strings.Join(ids, " "))
}

// target is what is graded: how to start it, what to call it, how a person starts it by hand.
type target struct {
	name    string // "chapters/01-blocking", or the command
	server  harness.ServerConfig
	source  string // the folder of the Go package built, "" for -cmd
	start   string // a shell command that starts it, with {addr}
	cleanup func()
}

// buildError is a server that did not compile.
type buildError struct {
	target string
	output string
	start  string
}

func (e *buildError) Error() string { return "build of " + e.target + " failed" }

// prepare finds, and unless -cmd builds, the server to grade.
func prepare(ctx context.Context, o *options, ch *specs.Chapter) (*target, error) {
	if o.cmd != "" {
		argv, err := splitCommand(strings.ReplaceAll(o.cmd, "{host}", "127.0.0.1"))
		if err != nil {
			return nil, fmt.Errorf("-cmd: %v", err)
		}
		if len(argv) == 0 {
			return nil, errors.New("-cmd: the command is empty")
		}
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		start := o.cmd
		if !strings.Contains(o.cmd, "{addr}") && !strings.Contains(o.cmd, "{port}") {
			start += " -addr {addr}"
		}
		return &target{
			name:   o.cmd,
			server: harness.ServerConfig{Command: argv, Flags: ch.Flags, Dir: wd},
			start:  start + " " + shellJoin(ch.Flags),
		}, nil
	}

	dir := o.dir
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(root, "chapters", ch.Slug)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s: no such folder (give -dir the folder of a Go main package)", dir)
	}
	// A chapter that grades data races builds with the race detector, which then reports them.
	race := o.race || ch.Race
	goRun := "go run "
	if race {
		goRun = "go run -race "
	}
	rel := relPath(abs)
	start := goRun + rel + " -addr {addr} " + shellJoin(ch.Flags)
	if filepath.IsAbs(rel) {
		start = "cd " + shellQuote(abs) + " && " + goRun + ". -addr {addr} " + shellJoin(ch.Flags)
	}
	name := abs
	if root, err := repoRoot(); err == nil {
		if r, err := filepath.Rel(root, abs); err == nil && filepath.IsLocal(r) {
			name = r
		}
	}
	tmp, err := os.MkdirTemp("", "grader-")
	if err != nil {
		return nil, err
	}
	tg := &target{name: name, start: start, cleanup: func() { os.RemoveAll(tmp) }}
	bin := filepath.Join(tmp, "server")
	if err := harness.Build(ctx, abs, bin, race); err != nil {
		return tg, &buildError{target: tg.name, output: err.Error(), start: start}
	}
	tg.server = harness.ServerConfig{Command: []string{bin}, Flags: ch.Flags, Dir: abs}
	tg.source = abs
	if race && os.Getenv("GORACE") == "" {
		// By default a program built with -race sleeps a second as it exits; every server stopped would cost it.
		tg.server.Env = []string{"GORACE=atexit_sleep_ms=0"}
	}
	return tg, nil
}

// repoRoot returns the folder of go.work, walking up from the working directory.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("%s is not inside the course repository (no go.work above it): run the grader from the repository, or give -dir or -cmd", wd)
		}
	}
}

// relPath returns abs as go run takes it from the working directory: "./chapters/01-blocking" or "." when
// it is at or below it, abs otherwise.
func relPath(abs string) string {
	wd, err := os.Getwd()
	if err != nil {
		return abs
	}
	rel, err := filepath.Rel(wd, abs)
	switch {
	case err != nil || !filepath.IsLocal(rel):
		return abs
	case rel == ".":
		return "."
	}
	return "./" + rel
}
