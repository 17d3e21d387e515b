// Command grader grades a chapter's server: it builds it, starts it on a free port of 127.0.0.1, runs the
// chapter's specs against it over TCP, and prints one line per spec as it goes and the score.
//
// Usage:
//
//	grader -chapter N [-dir DIR | -cmd 'CMD'] [-run REGEXP] [-json] [-o FILE] [-v] [-seed S] [-race] [-count N] [-timeout D]
//	grader -chapter N -watch [-poll] [...]   grade again each time a file of the chapter changes
//	grader -chapter N -hint                   the hint for the first spec the last grade did not pass
//
// By default it grades chapters/NN-slug of the course repository, found by walking up from the working
// directory to go.work. -dir grades a Go package elsewhere: one outside the course's modules, such as a
// student's chapter folder, is built in a temporary copy of the course workspace. -cmd grades any
// executable, such as a server written in Python: {port}, {addr} and {host} in CMD say where it listens, and
// {flags} where the chapter's flags go (grader/README.md is the contract). -o writes the report to a file
// too, as JSON or, for a name ending in .xml, JUnit XML.
//
// The exit status is 0 when every spec passes, 1 when some fail, and 2 for a usage error or a build failure.
// (go run reports any failure of the program it runs as exit status 1: build the grader, as make does, to
// tell them apart.)
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

	"course/grader/source"
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
	out     string
	verbose bool
	seed    int64
	race    bool
	noRace  bool // -race=false given: build without the race detector even where the chapter grades races
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
	fs.StringVar(&o.dir, "dir", "", "grade the Go server in `DIR`, anywhere on disk (default: chapters/NN-slug of the repository)")
	fs.StringVar(&o.cmd, "cmd", "", "grade the server that `CMD` starts, any language: {port} (or {addr}, {host}) says where it listens, {flags} where its flags go (grader/README.md)")
	fs.StringVar(&o.run, "run", "", "run only the specs whose id matches `REGEXP` (the whole id: 1.4, 1.1[0-9]) or, if none does, whose title does")
	fs.BoolVar(&o.json, "json", false, "print the report as one JSON document")
	fs.StringVar(&o.out, "o", "", "also write the report to `FILE`: JUnit XML if its name ends in .xml, JSON otherwise")
	fs.BoolVar(&o.verbose, "v", false, "show the bytes sent and received for every spec")
	fs.Int64Var(&o.seed, "seed", 0, "seed `S` for the random bytes sent (default: from the clock; printed, to repeat a run)")
	fs.BoolVar(&o.race, "race", false, "build with the race detector (chapters that grade data races always do; -race=false builds without it, for a machine without gcc, and the report says what that leaves unchecked)")
	fs.IntVar(&o.count, "count", 1, "grade `N` times in a row, stopping at the first run that fails")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "bound the whole run, build included, to `D`")
	fs.BoolVar(&o.hint, "hint", false, "show the hint for the first spec your last grade of the chapter did not pass")
	fs.BoolVar(&o.watch, "watch", false, "grade again each time a file of the chapter changes (Ctrl-C to stop)")
	fs.BoolVar(&o.poll, "poll", false, "with -watch: poll for changes instead of using inotify")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: grader -chapter N [-dir DIR | -cmd 'CMD'] [-run REGEXP] [-json] [-o FILE] [-v] [-seed S] [-race] [-count N] [-timeout D]\n\n")
		fmt.Fprintf(stderr, "Builds the server of chapter N, starts it on a free port of 127.0.0.1, runs the chapter's specs\n")
		fmt.Fprintf(stderr, "against it and prints the score. Exit status: 0 all pass, 1 some fail, 2 usage or build error.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) { o.noRace = o.noRace || f.Name == "race" && !o.race })
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
	case o.watch && (o.json || o.out != "" || o.count > 1):
		return nil, &usageError{"-watch is for a person at a terminal: it does not go with -json, -o or -count"}
	}
	if o.out != "" {
		if fi, err := os.Stat(filepath.Dir(o.out)); err != nil || !fi.IsDir() {
			return nil, &usageError{fmt.Sprintf("-o %s: no folder %s to write it in", o.out, filepath.Dir(o.out))}
		}
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
	// A closed terminal (SIGHUP) stops the run as Ctrl-C and SIGTERM do: the server is stopped and the
	// temporary build removed before the grader exits.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
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
	if o.dir == "" && o.cmd == "" {
		base.Again = fmt.Sprintf("make grade CHAPTER=%d", ch.Number)
	}
	// The last report of the chapter is kept for -hint, whatever was graded.
	keep := func(rep *spec.Report) {
		if keepLast && rootErr == nil {
			saveReport(root, rep)
		}
	}

	// A first build compiles the standard library too (with the race detector, an instrumented copy of it):
	// say so when it is slow.
	said := make(chan struct{})
	slow := time.AfterFunc(3*time.Second, func() {
		defer close(said)
		if o.race || ch.Race {
			fmt.Fprintln(stderr, "grader: building the server with the race detector (the first time takes a minute or two; later builds are cached)…")
		} else {
			fmt.Fprintln(stderr, "grader: building the server (the first time takes a little longer; later builds are cached)…")
		}
	})
	tg, err := prepare(ctx, o, ch)
	if !slow.Stop() {
		<-said // the notice is being written: let it finish before anything else writes to stderr
	}
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
		rep.Target, rep.Start, rep.Flags = tg.name, tg.start, tg.flags
		rep.Problems = []string{fmt.Sprintf("the build of %s failed: fix the compiler errors below", tg.name)}
		rep.Output = be.output
		rep.Results = spec.NotRun(selected, "the build failed")
		for _, s := range selected {
			rep.Total += s.Points
		}
		keep(&rep)
		if err := writeReport(o.out, &rep); err != nil {
			fmt.Fprintf(stderr, "grader: %v\n", err)
		}
		emit(p, &rep, o.json, stdout)
		return exitUsage
	}
	base.Target, base.Start, base.Flags, base.Notes = tg.name, tg.start, tg.flags, tg.notes
	if tg.source != "" && len(ch.Reference) > 0 {
		// Before the specs, not beside them: reading the code may compile, which would load the machine
		// while the specs time the server.
		notice, err := referenceNotice(ctx, tg.source, ch.Reference)
		if err != nil {
			base.Notes = append(base.Notes, fmt.Sprintf("the grader could not read the code to see whether it "+
				"calls the reference answer to the exercise: %v", err))
		}
		base.Notice = notice
	}

	cfg := spec.Config{
		Chapter: ch.Number,
		Title:   ch.Title,
		Specs:   selected,
		Server:  tg.server,
		NoFlags: tg.noFlags,
		Source:  tg.source,
		Seed:    o.seed,
		Verbose: o.verbose,
		Alive:   specs.Alive,
	}
	status := exitPass
	for i := 1; i <= o.count; i++ {
		head := base
		head.Run, head.Runs = i, o.count
		if !o.json {
			p.Header(&head)
			cfg.Progress = func(res spec.Result) { p.Result(&res) }
		}
		got := spec.Run(ctx, cfg)
		rep := base
		rep.Results, rep.Score, rep.Total, rep.Unread = got.Results, got.Score, got.Total, got.Unread
		rep.Shutdown, rep.Problems, rep.Stopped, rep.Duration = got.Shutdown, got.Problems, got.Stopped, got.Duration
		if o.count > 1 {
			rep.Run, rep.Runs = i, o.count
		}
		passed := rep.Passed()
		keep(&rep)
		last := !passed || i == o.count
		if last {
			if err := writeReport(o.out, &rep); err != nil {
				fmt.Fprintf(stderr, "grader: %v\n", err)
				status = exitUsage
			}
		}
		if o.json {
			if last {
				rep.WriteJSON(stdout)
			}
		} else {
			p.Footer(&rep)
			if o.run != "" && len(selected) < len(ch.Specs) {
				fmt.Fprintf(stdout, "(only the %d of %d specs that match -run %q)\n", len(selected), len(ch.Specs), o.run)
			}
		}
		if !passed {
			if status == exitPass {
				status = exitFail
			}
			break
		}
	}
	return status
}

// keepLast says whether run keeps each report for -hint. The grader's own tests turn it off, so that the
// servers they grade do not replace a learner's last report.
var keepLast = true

// writeReport writes rep to the file path, as JUnit XML if its name ends in .xml and as JSON otherwise; an
// empty path writes nothing.
func writeReport(path string, rep *spec.Report) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	if strings.EqualFold(filepath.Ext(path), ".xml") {
		err = rep.WriteJUnit(f)
	} else {
		err = rep.WriteJSON(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("-o: writing %s: %w", path, err)
	}
	return nil
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	return watchLoop(ctx, dir, o.poll, func() { run(rest, stdout, stderr) }, stdout)
}

// referenceNotice says which of the chapter's reference answers (Chapter.Reference) the Go package in dir
// calls, if any. It reads the calls of the package's code, its tests left out, so that a mention in a
// comment, a string or a test is not taken for a use.
func referenceNotice(ctx context.Context, dir string, refs []string) (string, error) {
	p, err := source.Load(ctx, dir)
	if err != nil {
		return "", err
	}
	used := p.CalledFrom(refs...)
	if len(used) == 0 {
		return "", nil
	}
	return fmt.Sprintf("your server calls %s, the course's reference answer to this chapter's exercise: "+
		"the points count, but the exercise is to write it yourself.", strings.Join(used, "; ")), nil
}

// emit prints the report of a build that failed, as JSON or as text: the text leaves out the results (none
// ran), and says what the compiler said.
func emit(p *spec.Printer, rep *spec.Report, json bool, stdout io.Writer) {
	if json {
		rep.WriteJSON(stdout)
		return
	}
	p.Header(rep)
	p.Footer(rep)
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
	noFlags bool     // the command takes no flags: it has no {flags}
	flags   []string // the flags of every server, the chapter's; nil when the command takes none
	notes   []string // said before the results
	source  string   // the folder of the Go package built, "" for -cmd
	start   string   // a shell command that starts it, with {addr} and {flags}; "" if there is none
	cleanup func()
}

// buildError is a server that did not compile.
type buildError struct{ output string }

func (e *buildError) Error() string { return "the build failed" }

// prepare finds, and unless -cmd builds, the server to grade. On a build error it returns the target too.
func prepare(ctx context.Context, o *options, ch *specs.Chapter) (*target, error) {
	if o.cmd != "" {
		return command(o.cmd, ch)
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
	race := o.race || ch.Race && !o.noRace
	goRun := "go run "
	if race {
		goRun = "go run -race "
	}
	tmp, err := os.MkdirTemp("", "grader-")
	if err != nil {
		return nil, err
	}
	tg := &target{name: abs, flags: ch.Flags, source: abs, cleanup: func() { os.RemoveAll(tmp) }}
	if ch.Race && !race {
		tg.notes = append(tg.notes, "built without the race detector (-race=false): a data race in the server "+
			"goes unreported, so full marks here do not show that its shared data is safe; grade again with gcc "+
			"installed (the race detector needs cgo) before you call the chapter done")
	}
	if root, err := repoRoot(); err == nil {
		if r, err := filepath.Rel(root, abs); err == nil && filepath.IsLocal(r) {
			tg.name = r
		}
	}
	if inModule(abs) {
		rel := relPath(abs)
		tg.start = goRun + rel + " -addr {addr} {flags}"
		if filepath.IsAbs(rel) {
			tg.start = "cd " + shellQuote(abs) + " && " + goRun + ". -addr {addr} {flags}"
		}
	} else {
		// A folder outside the course's modules, such as a student's chapter folder: it is built in a copy
		// of the course workspace, in place of the chapter's own folder, so that its imports resolve.
		root, err := repoRoot()
		if err != nil {
			tg.cleanup()
			return nil, fmt.Errorf("%s is in no Go module: to build it in the course's workspace, run the grader from the course repository", dir)
		}
		if tg.source, err = copyWorkspace(root, abs, ch.Slug, filepath.Join(tmp, "course")); err != nil {
			tg.cleanup()
			return nil, err
		}
	}
	bin := filepath.Join(tmp, "server")
	if err := harness.Build(ctx, tg.source, bin, race); err != nil {
		return tg, &buildError{output: strings.ReplaceAll(err.Error(), tg.source, abs)}
	}
	tg.server = harness.ServerConfig{Command: []string{bin, "-addr", "{addr}", harness.FlagsPlaceholder}, Flags: ch.Flags, Dir: tg.source}
	if race && os.Getenv("GORACE") == "" {
		// By default a program built with -race sleeps a second as it exits; every server stopped would cost it.
		tg.server.Env = []string{"GORACE=atexit_sleep_ms=0"}
	}
	return tg, nil
}

// command returns the target of -cmd: the command, split into words as a shell would, in which {port},
// {addr} or {host} say where the server listens and a word {flags} where its flags go.
func command(cmd string, ch *specs.Chapter) (*target, error) {
	argv, err := splitCommand(cmd)
	if err != nil {
		return nil, fmt.Errorf("-cmd: %v", err)
	}
	if len(argv) == 0 {
		return nil, errors.New("-cmd: the command is empty")
	}
	example := "as in -cmd 'python3 server.py --port {port} {flags}' (see grader/README.md)"
	if !strings.Contains(cmd, "{port}") && !strings.Contains(cmd, "{addr}") {
		return nil, fmt.Errorf("-cmd %q does not say where the server must listen: put {port} (or {addr}, which is 127.0.0.1:PORT) in it, %s", cmd, example)
	}
	hasFlags := slices.Contains(argv, harness.FlagsPlaceholder)
	if !hasFlags && strings.Contains(cmd, harness.FlagsPlaceholder) {
		return nil, fmt.Errorf("-cmd %q: {flags} must be a word of its own, %s", cmd, example)
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	tg := &target{
		name:    cmd,
		server:  harness.ServerConfig{Command: argv, Flags: ch.Flags, Dir: wd},
		noFlags: !hasFlags,
		start:   cmd,
	}
	if hasFlags {
		tg.flags = ch.Flags
	} else if used := chapterFlags(ch); len(used) > 0 {
		tg.notes = append(tg.notes, fmt.Sprintf("-cmd has no {flags}, so your server gets none of the flags that "+
			"the grader passes in chapter %d (%s) and runs with its own settings: the specs that rely on them may "+
			"fail. Put {flags} in -cmd where your server takes them: see grader/README.md.", ch.Number, strings.Join(used, ", ")))
	}
	return tg, nil
}

// chapterFlags returns the names of the flags a chapter's servers are started with, its own and its specs',
// in order of first use.
func chapterFlags(ch *specs.Chapter) []string {
	var names []string
	add := func(flags []string) {
		for _, f := range flags {
			if strings.HasPrefix(f, "-") && !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
	}
	add(ch.Flags)
	for _, s := range ch.Specs {
		add(s.Flags)
	}
	return names
}

// inModule reports whether dir is in a Go module: a go.mod in it or a folder above it.
func inModule(dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return true
		}
		if filepath.Dir(d) == d {
			return false
		}
	}
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
