// Package mutants measures how well the grader keeps its promise, "a server that gets full marks works": it
// plants one realistic bug at a time (a mutant) in a chapter's reference server or in a given package that
// server uses, builds the server with the bug, grades it with the chapter's specs, and reports which specs
// caught each bug (killed it) and which bugs got through (survived). The mutation score of a chapter is the
// share of its mutants that some spec kills.
//
// The mutants are written by hand, a table per chapter (ch01.go, ...), as a learner would get each chapter
// wrong. A mutant replaces one exact piece of text of one file; the file is never modified: the server is built
// with `go build -overlay`, which compiles a changed copy in its place.
package mutants

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"course/grader/spec"
	"course/grader/specs"
)

// Race names, among a mutant's Killers, a data race reported by the race detector while it is graded.
const Race = "race"

// Mutant is one planted bug.
type Mutant struct {
	// Name is lower-case words with dashes, unique among all mutants: "chunk-size-decimal".
	Name string
	// Chapter is the chapter whose server is built with the bug and graded, from solutions/NN-slug.
	Chapter int
	// File is the file changed, relative to the repository's root: "chapters/http1/request.go".
	File string
	// Old is the text replaced, which must occur exactly once in File; New replaces it.
	Old, New string
	// Bug is the learner's mistake the mutant stands for, one sentence.
	Bug string
	// Shows is what a client sees of the bug: the exchange that tells the mutant from the reference server.
	// A spec that does this kills the mutant. Empty for an equivalent mutant.
	Shows string
	// Killers are the ids of the specs expected to fail on the mutant ("1.5"); Race when the race detector
	// is expected to report it, with at least one spec id, whose traffic shows it. Empty for an equivalent
	// mutant.
	Killers []string
	// Equivalent says why no client can tell the mutant from the reference server through the network,
	// for a mutant that no spec can kill. Empty otherwise.
	Equivalent string
}

// All returns every mutant of every chapter, chapter by chapter.
func All() []Mutant {
	return slices.Concat(chapter1, chapter2, chapter3, chapter4)
}

// Select returns the mutants of chapter (0: all) named in names (none: all), in table order. It fails on a
// name that is no mutant's, or of another chapter.
func Select(chapter int, names []string) ([]Mutant, error) {
	all := All()
	for _, n := range names {
		i := slices.IndexFunc(all, func(m Mutant) bool { return m.Name == n })
		switch {
		case i < 0:
			return nil, fmt.Errorf("no mutant is named %q (mutants -list shows them)", n)
		case chapter != 0 && all[i].Chapter != chapter:
			return nil, fmt.Errorf("mutant %s is graded as chapter %d, not %d", n, all[i].Chapter, chapter)
		}
	}
	var out []Mutant
	for _, m := range all {
		if (chapter == 0 || m.Chapter == chapter) && (len(names) == 0 || slices.Contains(names, m.Name)) {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("chapter %d has no mutants", chapter)
	}
	return out, nil
}

// Specs returns the spec ids among m's Killers, without Race.
func (m *Mutant) Specs() []string {
	return slices.DeleteFunc(slices.Clone(m.Killers), func(k string) bool { return k == Race })
}

// namePattern is the form of a mutant's name.
var namePattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Validate checks that m is well formed: its fields filled in as Mutant says, its chapter one with specs,
// its killers specs of that chapter. It does not look at the file (see Apply).
func (m *Mutant) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !namePattern.MatchString(m.Name) {
		bad("the name %q is not lower-case words with dashes", m.Name)
	}
	ch, err := specs.ForChapter(m.Chapter)
	if err != nil {
		bad("%v", err)
	}
	if m.File == "" || filepath.IsAbs(m.File) || !filepath.IsLocal(m.File) || !strings.HasSuffix(m.File, ".go") || strings.HasSuffix(m.File, "_test.go") {
		bad("the file %q is not a Go source file given relative to the repository's root", m.File)
	}
	if m.Old == "" || m.Old == m.New {
		bad("the replacement changes nothing")
	}
	if !strings.HasSuffix(m.Bug, ".") || strings.Contains(strings.TrimSuffix(m.Bug, "."), ". ") {
		bad("the bug must be told in one sentence, ending with a period: %q", m.Bug)
	}
	switch {
	case m.Equivalent != "" && (len(m.Killers) > 0 || m.Shows != ""):
		bad("an equivalent mutant has neither killers nor an exchange that shows it")
	case m.Equivalent == "" && (len(m.Specs()) == 0 || m.Shows == ""):
		bad("a mutant that is not equivalent needs the specs expected to kill it (Race alone is not enough: a spec must drive the traffic) and the exchange that shows it")
	}
	if ch != nil {
		for _, id := range m.Specs() {
			if !slices.ContainsFunc(ch.Specs, func(s spec.Spec) bool { return s.ID == id }) {
				bad("chapter %d has no spec %s", m.Chapter, id)
			}
		}
		if slices.Contains(m.Killers, Race) && !ch.Race {
			bad("chapter %d's server is not built with the race detector, so no race can kill the mutant", m.Chapter)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("mutant %s: %w", m.Name, errors.Join(errs...))
	}
	return nil
}

// Apply returns the text of m's file, under the repository root, with the mutation made. It fails when the
// file cannot be read or the old text does not occur in it exactly once: the code has moved on, and the row
// must follow it.
func (m *Mutant) Apply(root string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, m.File))
	if err != nil {
		return "", fmt.Errorf("mutant %s: %w", m.Name, err)
	}
	text := string(data)
	if n := strings.Count(text, m.Old); n != 1 {
		return "", fmt.Errorf("mutant %s: the text to replace occurs %d times in %s, want exactly once (has the code changed?):\n%s",
			m.Name, n, m.File, indent(m.Old))
	}
	return strings.Replace(text, m.Old, m.New, 1), nil
}

// indent indents every line of s, to quote code in a message.
func indent(s string) string {
	return "\t" + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n\t")
}

// The files the tables change.
const (
	http1Request    = "chapters/http1/request.go"
	http1Conn       = "chapters/http1/conn.go"
	http1Answer     = "chapters/http1/answer.go"
	gatewayGateway  = "chapters/gateway/gateway.go"
	gatewayResponse = "chapters/gateway/response.go"
	gatewayEnviron  = "chapters/gateway/environ.go"
	launchLaunch    = "chapters/launch/launch.go"
	poolGate        = "chapters/pool/gate.go"
	poolWatchdog    = "chapters/pool/watchdog.go"
	poolAnswer      = "chapters/pool/answer.go"
	poolPool        = "chapters/pool/pool.go"
	pushPush        = "chapters/push/push.go"
	launchPrefork   = "chapters/launch/prefork.go"
	preforkExec     = "chapters/prefork/exec.go"
	preforkMaster   = "chapters/prefork/master.go"
	preforkServe    = "solutions/04-prefork/serve.go"
	preforkWorker   = "solutions/04-prefork/worker.go"
	sharedShared    = "chapters/shared/shared.go"
	threadedConns   = "solutions/02-threaded/conns.go"
	threadedMain    = "solutions/02-threaded/main.go"
	threadedShared  = "solutions/02-threaded/shared.go"
	appStats        = "chapters/app/stats.go"
	eventLoop       = "solutions/03-event-driven/loop.go"
	eventConn       = "solutions/03-event-driven/conn.go"
	eventOffload    = "solutions/03-event-driven/offload.go"
	eventTimers     = "solutions/03-event-driven/timers.go"
	eventListen     = "solutions/03-event-driven/listen.go"
)
