package mutants

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"course/grader/spec"
	"course/grader/specs"
)

// minMutants is how many mutants each chapter's table must have at least.
const minMutants = 15

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.work"))
	require.NoError(t, err, "the tests run from grader/mutants, two levels below the repository root")
	return root
}

// TestTables checks every row of every table: well formed, a name of its own, and an old text found exactly
// once in its file. A row that no longer applies fails here, loudly: the code has moved and the row must
// follow it.
func TestTables(t *testing.T) {
	root := repoRoot(t)
	seen := map[string]bool{}
	count := map[int]int{}
	for _, m := range All() {
		t.Run(m.Name, func(t *testing.T) {
			require.False(t, seen[m.Name], "two mutants are named %s", m.Name)
			seen[m.Name] = true
			count[m.Chapter]++
			require.NoError(t, m.Validate())
			_, err := m.Apply(root)
			require.NoError(t, err)
		})
	}
	for _, n := range specs.Numbers() {
		if n <= 3 {
			require.GreaterOrEqual(t, count[n], minMutants, "chapter %d has too few mutants", n)
		}
	}
}

func TestValidate(t *testing.T) {
	good := Mutant{Name: "a-bug", Chapter: 1, File: "chapters/http1/request.go", Old: "a", New: "b",
		Bug: "A bug.", Shows: "What a client sees.", Killers: []string{"1.5"}}
	require.NoError(t, good.Validate())
	tests := []struct {
		name   string
		change func(m *Mutant)
		want   string
	}{
		{"name", func(m *Mutant) { m.Name = "A_Bug" }, "lower-case words"},
		{"chapter", func(m *Mutant) { m.Chapter = 99 }, "no specs for chapter 99"},
		{"absolute file", func(m *Mutant) { m.File = "/etc/passwd" }, "not a Go source file"},
		{"test file", func(m *Mutant) { m.File = "chapters/http1/request_test.go" }, "not a Go source file"},
		{"no change", func(m *Mutant) { m.New = m.Old }, "changes nothing"},
		{"two sentences", func(m *Mutant) { m.Bug = "One. Two." }, "one sentence"},
		{"no killers", func(m *Mutant) { m.Killers = nil }, "needs the specs"},
		{"race alone", func(m *Mutant) { m.Chapter, m.Killers = 2, []string{Race} }, "needs the specs"},
		{"unknown spec", func(m *Mutant) { m.Killers = []string{"1.99"} }, "no spec 1.99"},
		{"race unbuilt", func(m *Mutant) { m.Killers = []string{"1.5", Race} }, "not built with the race detector"},
		{"equivalent with killers", func(m *Mutant) { m.Equivalent = "why" }, "neither killers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := good
			tc.change(&m)
			require.ErrorContains(t, m.Validate(), tc.want)
		})
	}
}

func TestApply(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "a.go"), []byte("x := 1\ny := 1\n"), 0o644))
	m := Mutant{Name: "m", File: "a.go", Old: "x := 1", New: "x := 2"}
	got, err := m.Apply(root)
	require.NoError(t, err)
	require.Equal(t, "x := 2\ny := 1\n", got)
	m.Old = ":= 1"
	_, err = m.Apply(root)
	require.ErrorContains(t, err, "occurs 2 times")
	m.Old = "z"
	_, err = m.Apply(root)
	require.ErrorContains(t, err, "occurs 0 times")
}

func TestSelect(t *testing.T) {
	ms, err := Select(2, nil)
	require.NoError(t, err)
	for _, m := range ms {
		require.Equal(t, 2, m.Chapter)
	}
	ms, err = Select(0, []string{"multithread-false", "chunk-size-decimal"})
	require.NoError(t, err)
	require.Equal(t, []string{"chunk-size-decimal", "multithread-false"}, []string{ms[0].Name, ms[1].Name}, "in table order")
	_, err = Select(0, []string{"no-such-mutant"})
	require.ErrorContains(t, err, `no mutant is named "no-such-mutant"`)
	_, err = Select(3, []string{"multithread-false"})
	require.ErrorContains(t, err, "graded as chapter 2, not 3")
}

func TestFailures(t *testing.T) {
	rep := &spec.Report{
		Results: []spec.Result{
			{ID: "1.1", Passed: true},
			{ID: "1.5", Message: "POST /echo: got 400\nmore"},
			{ID: "1.6", Message: "not run"},
		},
		Problems: []string{"the server reported a data race ...:\n" + spec.RaceWarning + "\nRead at ...", "processes left behind: pid 7"},
	}
	by, msg := failures(rep)
	require.Equal(t, []string{"1.5", "1.6", Race, "problem"}, by)
	require.Equal(t, "1.5: POST /echo: got 400", msg)

	by, msg = failures(&spec.Report{Results: []spec.Result{{ID: "1.1", Passed: true}}, Stopped: "time ran out"})
	require.Equal(t, []string{"time"}, by)
	require.Equal(t, "time ran out", msg)

	by, _ = failures(&spec.Report{Results: []spec.Result{{ID: "1.1", Passed: true}}})
	require.Empty(t, by)
}

func TestScore(t *testing.T) {
	rep := &Report{Results: []Result{
		{Chapter: 1, Status: Killed}, {Chapter: 1, Status: Killed}, {Chapter: 1, Status: Survived},
		{Chapter: 1, Status: Unconfirmed}, {Chapter: 1, Status: Equivalent}, {Chapter: 1, Status: Broken},
		{Chapter: 2, Status: Killed},
	}}
	rep.score()
	require.Equal(t, []Score{
		{Chapter: 1, Mutants: 6, Killed: 2, Survived: 1, Unconfirmed: 1, Equivalent: 1, Broken: 1, Percent: 50},
		{Chapter: 2, Mutants: 1, Killed: 1, Percent: 100},
	}, rep.Chapters)
	require.False(t, rep.OK(), "a broken row makes the report not OK")

	var b strings.Builder
	rep.Print(&b)
	require.Contains(t, b.String(), "50% (2 of 4)")
}

// TestMutantsCompile compiles each chapter's server with each of its mutants: a row that no longer compiles,
// or changes a file that is not part of its chapter's server, fails here.
func TestMutantsCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles every mutant")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for _, err := range Check(ctx, repoRoot(t), All()) {
		t.Error(err)
	}
}

// quick are the mutants that make test grades, each on the specs its row expects to kill it: one or two a
// chapter, whose specs are quick, so that the engine is seen to work end to end.
var quick = []string{
	"header-name-case-sensitive", "chunk-size-decimal",
	"multithread-false", "abandoned-worker-not-replaced",
	"pipelined-bytes-dropped", "idle-timer-not-set",
	"multithread-for-the-server",
}

// TestQuickMutantsAreKilled grades the quick mutants on their expected specs: each must be killed by one.
func TestQuickMutantsAreKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("grades real servers")
	}
	ms, err := Select(0, quick)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep := Run(ctx, ms, Options{Root: repoRoot(t), Fast: true, Seed: 1})
	require.Len(t, rep.Results, len(quick))
	for _, r := range rep.Results {
		require.Equal(t, Killed, r.Status, "mutant %s: %s", r.Name, Line(&r))
		require.True(t, slices.ContainsFunc(r.By, func(id string) bool { return slices.Contains(r.Expect, id) }),
			"mutant %s was killed by %v, not by the specs its row expects (%v)", r.Name, r.By, r.Expect)
	}
	require.True(t, rep.OK())
}
