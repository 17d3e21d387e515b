// Command mutants measures how well the grader's specs catch the bugs a learner makes: it plants one bug at a
// time (a mutant, from the tables of grader/mutants) in a chapter's reference server or in a given package it
// uses, builds the server with it, grades it with the chapter's specs, and prints one line per mutant as it
// goes (KILLED by which specs, SURVIVED, BROKEN; on stderr with -json), then the mutation score of each
// chapter and the mutants that got through, each with what a spec would have to do to catch it.
//
// Usage:
//
//	mutants [-chapter N] [-mutant NAME,...] [-fast] [-json] [-parallel N] [-confirm unexpected|all|none] [-timeout D] [-seed S]
//	mutants -list [-chapter N]                        the mutants, with the bug each stands for
//	mutants -check [-chapter N]                       check that every row applies and compiles, grading nothing
//	mutants -mutant NAME -o FILE                      build the server with one mutant, to try it by hand
//
// The exit status is 0 when every mutant was graded (whatever the score), 1 when a row is broken or a
// chapter's reference server failed its specs, and 2 for a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"course/grader/mutants"
	"course/harness"
)

func main() {
	signal.Ignore(syscall.SIGPIPE)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mutants", flag.ContinueOnError)
	fs.SetOutput(stderr)
	chapter := fs.Int("chapter", 0, "only the mutants of chapter `N` (default: all)")
	names := fs.String("mutant", "", "only the mutants named, `NAME[,NAME...]`")
	fast := fs.Bool("fast", false, "grade each mutant on the specs its row expects to kill it, not all the chapter's")
	asJSON := fs.Bool("json", false, "print the report as one JSON document")
	parallel := fs.Int("parallel", 1, "grade `N` mutants at once (timing specs need the cores: more may turn flakes into kills)")
	confirm := fs.String("confirm", "unexpected", "grade a kill again before counting it: `unexpected` (by none of the specs its row expects), all, none")
	timeout := fs.Duration("timeout", mutants.DefaultTimeout, "bound each run of the specs on a mutant's server to `D`")
	seed := fs.Int64("seed", 0, "seed `S` for the random bytes the specs send (default: from the clock)")
	baseline := fs.Bool("baseline", true, "grade each chapter's reference server first: its mutants are graded only if it passes")
	list := fs.Bool("list", false, "list the mutants and exit")
	check := fs.Bool("check", false, "check that every row applies and compiles, and exit")
	out := fs.String("o", "", "with one -mutant: build the server with it into `FILE` and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "mutants: "+format+"\nRun mutants -h for the flags.\n", args...)
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments %q", fs.Args())
	}
	var selected []string
	if *names != "" {
		selected = strings.Split(*names, ",")
	}
	ms, err := mutants.Select(*chapter, selected)
	if err != nil {
		return usage("%v", err)
	}
	conf, err := mutants.ParseConfirm(*confirm)
	if err != nil {
		return usage("%v", err)
	}
	if *out != "" && len(ms) != 1 {
		return usage("-o builds one mutant: name it with -mutant")
	}
	if *seed == 0 {
		*seed = time.Now().UnixNano()
	}
	root, err := repoRoot()
	if err != nil {
		return usage("%v", err)
	}
	if *list {
		for _, m := range ms {
			what := "killed by " + strings.Join(m.Killers, " ")
			if m.Equivalent != "" {
				what = "equivalent: " + m.Equivalent
			}
			fmt.Fprintf(stdout, "%d %-34s %s\n    %s\n    %s\n", m.Chapter, m.Name, m.File, m.Bug, what)
		}
		return 0
	}

	// First, so that the processes a server leaves behind stay ours to find and kill.
	if err := harness.BecomeSubreaper(); err != nil {
		fmt.Fprintf(stderr, "mutants: warning: %v: processes that a server leaves behind may go unnoticed\n", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	switch {
	case *out != "":
		work, err := os.MkdirTemp("", "mutants-")
		if err != nil {
			fmt.Fprintf(stderr, "mutants: %v\n", err)
			return 1
		}
		defer os.RemoveAll(work)
		if err := mutants.Build(ctx, root, &ms[0], *out, work); err != nil {
			fmt.Fprintf(stderr, "mutants: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "built chapter %d's server with mutant %s into %s; start it with %s -addr 127.0.0.1:8080\n",
			ms[0].Chapter, ms[0].Name, *out, *out)
		return 0
	case *check:
		errs := mutants.Check(ctx, root, ms)
		for _, err := range errs {
			fmt.Fprintf(stdout, "BROKEN %v\n", err)
		}
		fmt.Fprintf(stdout, "%d of %d mutants apply and compile\n", len(ms)-len(errs), len(ms))
		if len(errs) > 0 {
			return 1
		}
		return 0
	}

	o := mutants.Options{
		Root: root, Fast: *fast, Confirm: conf, Parallel: *parallel, Timeout: *timeout, Seed: *seed,
		Baseline: *baseline,
	}
	// The lines as it goes: on stdout, or on stderr when stdout is for the JSON report.
	lines := stdout
	if *asJSON {
		lines = stderr
	}
	mode := "every spec of its chapter"
	if *fast {
		mode = "the specs its row expects"
	}
	fmt.Fprintf(lines, "Grading %d mutants, each on %s (seed %d)\n", len(ms), mode, *seed)
	o.Progress = func(r mutants.Result) { fmt.Fprintln(lines, mutants.Line(&r)) }
	o.Checked = func(b mutants.Baseline) {
		if b.Passed {
			fmt.Fprintf(lines, "chapter %d: the reference server passes; its mutants:\n", b.Chapter)
		} else {
			fmt.Fprintf(lines, "chapter %d: the reference server FAILS (%s), so its mutants are not graded: %s\n",
				b.Chapter, strings.Join(b.Failed, " "), b.Message)
		}
	}
	rep := mutants.Run(ctx, ms, o)
	if *asJSON {
		rep.WriteJSON(stdout)
	} else {
		rep.Print(stdout)
	}
	if !rep.OK() {
		return 1
	}
	return 0
}

// repoRoot returns the folder of the go.work the go command finds from the working directory.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOWORK").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOWORK: %w", err)
	}
	work := strings.TrimSpace(string(out))
	if work == "" || work == "off" {
		return "", errors.New("not inside the course repository (no go.work above the working directory)")
	}
	return filepath.Dir(work), nil
}
