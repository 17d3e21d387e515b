package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"course/grader/spec"
	"course/grader/specs"
	"course/harness"
)

// The self-checks grade the course's real servers: every solution gets full marks several runs in a row, every
// starter compiles and fails, and every known-bad server fails the spec made to catch its flaw. A spec that no
// server can fail would be a defect; these tests are where each spec shows that it can.
//
// They take a while (a full chapter run is about 10 s), so `go test -short` skips them.

// solutionRuns is how many runs in a row a solution must pass: flakes are bugs.
const solutionRuns = 3

func gradeJSON(t *testing.T, args ...string) (int, *spec.Report) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"-json"}, args...), &stdout, &stderr)
	var rep spec.Report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep), "grader output: %s\nstderr: %s", stdout.String(), stderr.String())
	return code, &rep
}

// describe lists the failures of a report, for a test's failure message.
func describe(rep *spec.Report) string {
	var b strings.Builder
	for _, r := range rep.Results {
		if !r.Passed {
			fmt.Fprintf(&b, "%s %s: %s\n", r.ID, r.Title, r.Message)
		}
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(&b, "problem: %s\n", p)
	}
	return b.String()
}

func TestSolutionsPass(t *testing.T) {
	t.Parallel() // these self-checks mostly wait on servers: they run side by side (make test: -parallel)
	if testing.Short() {
		t.Skip("grades real servers")
	}
	root := repoRootT(t)
	for _, n := range specs.Numbers() {
		ch, err := specs.ForChapter(n)
		require.NoError(t, err)
		dir := filepath.Join("solutions", ch.Slug)
		if _, err := os.Stat(filepath.Join(root, dir)); err != nil {
			t.Errorf("chapter %d has specs but no solution in %s", n, dir)
			continue
		}
		t.Run(ch.Slug, func(t *testing.T) {
			t.Parallel() // the specs mostly wait on timeouts: chapters graded side by side also show they hold under load
			code, rep := gradeJSON(t, "-chapter", fmt.Sprint(n), "-dir", filepath.Join(root, dir), "-count", fmt.Sprint(solutionRuns))
			require.Equal(t, 0, code, "the solution must pass every spec, %d runs in a row; run %d failed:\n%s", solutionRuns, rep.Run, describe(rep))
			require.Equal(t, solutionRuns, rep.Run)
			require.Equal(t, rep.Total, rep.Score)
			require.NotNil(t, rep.Shutdown)
			require.True(t, rep.Shutdown.Graceful, "the solution must stop on SIGTERM: %+v", rep.Shutdown)
		})
	}
}

func TestStartersFail(t *testing.T) {
	t.Parallel() // these self-checks mostly wait on servers: they run side by side (make test: -parallel)
	if testing.Short() {
		t.Skip("grades real servers")
	}
	root := repoRootT(t)
	for _, n := range specs.Numbers() {
		ch, err := specs.ForChapter(n)
		require.NoError(t, err)
		t.Run(ch.Slug, func(t *testing.T) {
			t.Parallel()
			code, rep := gradeJSON(t, "-chapter", fmt.Sprint(n), "-dir", filepath.Join(root, "chapters", ch.Slug))
			require.Equal(t, 1, code, "the starter must build and fail (exit 1), not pass or fail to build:\n%s", rep.Output)
			require.Empty(t, rep.Output, "the starter must compile")
			require.Less(t, rep.Score, rep.Total)
		})
	}
}

// TestThreadedSolutionIsNotEventDriven grades chapter 2's solution, a goroutine per connection over package
// net, as chapter 3: it must fail the architecture spec (read in its code) and the memory of idle
// connections (measured), while passing 1.1.
func TestThreadedSolutionIsNotEventDriven(t *testing.T) {
	t.Parallel() // these self-checks mostly wait on servers: they run side by side (make test: -parallel)
	if testing.Short() {
		t.Skip("grades real servers")
	}
	root := repoRootT(t)
	_, rep := gradeJSON(t, "-chapter", "3", "-dir", filepath.Join(root, "solutions", "02-threaded"), "-run", `1\.1|3\.1|3\.3`)
	got := map[string]bool{}
	for _, r := range rep.Results {
		got[r.ID] = r.Passed
	}
	require.Equal(t, map[string]bool{"1.1": true, "3.1": false, "3.3": false}, got, "chapter 2's solution graded as chapter 3:\n%s", describe(rep))
}

// knownBad is a known-bad server: a fixture under grader/fixtures that takes -flaw NAME, the chapter it is
// graded as, and the ids of the specs made to catch each of its flaws.
type knownBad struct {
	fixture string
	chapter int
	race    bool // build it with the race detector, as the grader builds the chapter's servers
	flaws   map[string][]string
}

var knownBads = []knownBad{
	{fixture: "badserver", chapter: 1, flaws: map[string][]string{
		"ignore-content-length":    {"1.4"},
		"short-body-ok":            {"1.4"},
		"keep-after-close":         {"1.8"},
		"no-keep-alive":            {"1.7"},
		"no-header-timeout":        {"1.22"},
		"per-read-timeout":         {"1.22"},
		"no-idle-timeout":          {"1.21"},
		"no-body-timeout":          {"1.23"},
		"no-write-timeout":         {"1.24"},
		"drop-pipelined":           {"1.6"},
		"two-content-lengths":      {"1.20"},
		"te-and-cl":                {"1.19"},
		"die-on-bad-request":       {"1.13"},
		"no-host-check":            {"1.3"},
		"no-limits":                {"1.15", "1.16"},
		"ignore-chunked":           {"1.5"},
		"head-with-body":           {"1.10"},
		"multithread-true":         {"1.11"},
		"no-500":                   {"1.12"},
		"panic-exits":              {"1.12"},
		"close-case-sensitive":     {"1.8"},
		"close-whole-value":        {"1.8"},
		"lenient-content-length":   {"1.26"},
		"wrapping-content-length":  {"1.26"},
		"loose-chunks":             {"1.27"},
		"no-discard":               {"1.25"},
		"case-sensitive-framing":   {"1.28"},
		"read-until-close":         {"1.28"},
		"first-te-only":            {"1.18"},
		"line-fits-buffer":         {"1.29"},
		"unbounded-line":           {"1.14", "1.16"},
		"limits-off-by-one":        {"1.29"},
		"keep-after-413":           {"1.17"},
		"buffered-stream":          {"1.30"},
		"flush-at-end":             {"1.30"},
		"http10-as-http11":         {"1.9", "1.30"},
		"unflushed-100":            {"1.31"},
		"expect-exact":             {"1.31"},
		"exit-on-read-error":       {"1.32"},
		"exit-on-write-error":      {"1.32"},
		"no-first-byte-deadline":   {"1.33"},
		"deadlines-once":           {"1.34"},
		"header-deadline-for-body": {"1.34"},
		"write-deadline-from-head": {"1.34"},
		"lowercase-values":         {"1.2"},
		"path-decoded-twice":       {"1.11"},
		"origin-form-only":         {"1.11"},
		"one-read-head":            {"1.22"},
		"deadline-from-accept":     {"1.22"},
		"limits-too-loose":         {"1.14", "1.15", "1.16", "1.17"},
		"eager-body":               {"1.31", "1.34"},
		"http10-two-hosts":         {"1.3"},
		"control-chars-stripped":   {"1.13"},
		"any-major-version":        {"1.13"},
		"line-limit-off-by-one":    {"1.29"},
		"crlf-uncounted":           {"1.16"},
		"chunk-end-any-byte":       {"1.27"},
		"trailers-unchecked":       {"1.27"},
		"limit-per-read":           {"1.16"},
		"protocol-fixed":           {"1.11"},
		"content-type-exact":       {"1.11"},
		"body-never-closed":        {"1.11"},
		"accept-gives-up":          {"1.37"},
	}},
	{fixture: "threadbad", chapter: 2, race: true, flaws: map[string][]string{
		"sequential":            {"2.1"},
		"unbounded":             {"2.2"},
		"blocking-queue":        {"2.3"},
		"queue-short-by-one":    {"2.3"},
		"no-queue-timeout":      {"2.4"},
		"late-queue-timeout":    {"2.4"},
		"leaky-queue-timeout":   {"2.4"},
		"conn-per-worker":       {"2.5"},
		"no-request-timeout":    {"2.6"},
		"late-504":              {"2.6"},
		"abandoned-held":        {"2.6"},
		"abandoned-keeps-place": {"2.6"},
		"place-given-twice":     {"2.6"},
		"timeout-from-queue":    {"2.6"},
		"racy-counter":          {"2.7"},
		"multithread-false":     {"2.8"},
		"no-graceful":           {"2.9"},
		"idle-kept":             {"2.9"},
		"pool-closed-first":     {"2.9"},
		"no-shutdown-timeout":   {"2.9"},
		"body-after-refusal":    {"2.10"},
		"refusal-keeps-open":    {"2.3"},
		"idle-cut-early":        {"2.5"},
		"stale-room":            {"2.4"},
		"close-unsaid":          {"2.9"},
	}},
	{fixture: "eventbad", chapter: 3, race: true, flaws: map[string][]string{
		"thread-per-connection":   {"3.2"},
		"fd-setsize":              {"3.3"},
		"no-timers":               {"3.4"},
		"blocking-write":          {"3.5"},
		"stuck-backpressure":      {"3.5"},
		"unbounded-output":        {"3.5"},
		"accept-spin":             {"3.6"},
		"inline-app":              {"3.7", "3.8"},
		"multithread-false":       {"3.9"},
		"no-accept-timer":         {"3.10"},
		"streaming-input":         {"3.11"},
		"cut-in-flight":           {"3.12"},
		"no-stop-deadline":        {"3.12"},
		"idle-kept":               {"3.12"},
		"one-too-many":            {"3.13"},
		"late-queue-timeout":      {"3.14"},
		"timeout-as-503":          {"3.15"},
		"mid-stream-504":          {"3.15"},
		"hangup-spin":             {"3.16"},
		"reset-loses-worker":      {"3.16"},
		"busy-ignores-close":      {"3.13"},
		"farthest-deadline":       {"3.10"},
		"deadline-from-accept":    {"3.10"},
		"header-deadline-on-body": {"3.11"},
		"reads-while-busy":        {"1.6"},
		"lost-moves":              {"3.4"},
	}},
	{fixture: "preforkbad", chapter: 4, race: true, flaws: map[string][]string{
		"goroutine-workers":        {"4.1", "4.4"},
		"own-socket":               {"4.1"},
		"multiprocess-false":       {"4.2", "4.3"},
		"multithread-false":        {"4.3"},
		"flock-inherited-fd":       {"4.5"},
		"flock-no-mutex":           {"4.5"},
		"shm-not-atomic":           {"4.6"},
		"no-respawn":               {"4.7"},
		"no-reap":                  {"4.7"},
		"no-timeout":               {"4.8"},
		"eager-timeout":            {"4.8"},
		"beat-through":             {"4.8"},
		"silent-kill":              {"4.8"},
		"respawn-loop":             {"4.9"},
		"kill-old-first":           {"4.10"},
		"close-listener-on-reload": {"4.10"},
		"blocking-socket":          {"4.10"},
		"ignore-ttin":              {"4.11"},
		"abrupt-recycle":           {"4.12"},
		"term-kills-workers":       {"4.13"},
		"orphans":                  {"4.14"},
		"listener-open-on-stop":    {"4.13"},
		"master-leaves-early":      {"4.13"},
		"end-unmarked":             {"4.8"},
	}},
	{fixture: "daemonbad", chapter: 5, race: true, flaws: map[string][]string{
		"in-process":              {"5.1"},
		"world-socket":            {"5.1"},
		"threads-as-processes":    {"5.2"},
		"multithread-false":       {"5.2"},
		"multiprocess-false":      {"5.3"},
		"accept-ahead":            {"5.3"},
		"unbounded-daemon":        {"5.4"},
		"default-backlog":         {"5.4"},
		"no-connect-retry":        {"5.4"},
		"connect-forever":         {"5.4"},
		"no-queue-timeout":        {"5.5"},
		"app-after-queue-timeout": {"5.5"},
		"trust-client-start":      {"5.5"},
		"no-request-timeout":      {"5.6"},
		"no-restart":              {"5.6"},
		"abrupt-restart":          {"5.6"},
		"no-respawn":              {"5.7"},
		"eof-is-ok":               {"5.7"},
		"no-socket-timeout":       {"5.8"},
		"keep-hop-open":           {"5.9"},
		"no-close":                {"5.9"},
		"abrupt-recycle":          {"5.10"},
		"no-drain":                {"5.10"},
		"stop-daemons-first":      {"5.11"},
		"buffer-response":         {"1.30", "5.12"},
		"python-defaults":         {"5.12", "5.13"},
		"socket-deadline-once":    {"5.8"},
		"restart-waits-for-stuck": {"5.6"},
		"front-waits-forever":     {"5.11"},
	}},
}

// TestKnownBadServersFail grades each known-bad server with each of its flaws on spec 1.1 (which it must
// pass: the server works) and on the specs made for the flaw (which must fail).
func TestKnownBadServersFail(t *testing.T) {
	t.Parallel() // these self-checks mostly wait on servers: they run side by side (make test: -parallel)
	if testing.Short() {
		t.Skip("grades real servers")
	}
	root := repoRootT(t)
	for _, kb := range knownBads {
		t.Run(kb.fixture, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), kb.fixture)
			require.NoError(t, harness.Build(context.Background(), filepath.Join(root, "grader", "fixtures", kb.fixture), bin, kb.race))

			// Every flaw of the fixture is checked here, and every flaw here exists in the fixture.
			out, err := exec.Command(bin, "-list").Output()
			require.NoError(t, err)
			var names []string
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				names = append(names, strings.Fields(line)[0])
			}
			require.ElementsMatch(t, names, keys(kb.flaws), "the table here and `%s -list` disagree", kb.fixture)

			// A race-built server sleeps a second as it exits unless told not to.
			cmd := shellQuote(bin)
			if kb.race {
				cmd = "env GORACE=atexit_sleep_ms=0 " + cmd
			}
			// Without a flaw, the fixture passes every spec its flaws fail: what fails them is the flaw.
			t.Run("none", func(t *testing.T) {
				t.Parallel()
				var ids []string
				for _, f := range names {
					ids = append(ids, kb.flaws[f]...)
				}
				slices.Sort(ids)
				ids = slices.Compact(ids)
				_, rep := gradeJSON(t, "-chapter", fmt.Sprint(kb.chapter), "-cmd", cmd+" -flaw none -addr {addr} {flags}",
					"-run", strings.Join(quoteAll(ids), "|"))
				for _, id := range ids {
					var found bool
					for _, r := range rep.Results {
						if r.ID == id {
							found = true
							require.True(t, r.Passed, "without a flaw, %s must pass spec %s:\n%s", kb.fixture, id, describe(rep))
						}
					}
					require.True(t, found, "spec %s did not run", id)
				}
			})
			for _, flaw := range names {
				ids := kb.flaws[flaw]
				t.Run(flaw, func(t *testing.T) {
					t.Parallel()
					pattern := "1\\.1|" + strings.Join(quoteAll(ids), "|")
					_, rep := gradeJSON(t, "-chapter", fmt.Sprint(kb.chapter), "-cmd", cmd+" -flaw "+flaw+" -addr {addr} {flags}", "-run", pattern)
					got := map[string]bool{}
					for _, r := range rep.Results {
						got[r.ID] = r.Passed
					}
					require.True(t, got["1.1"], "with flaw %s the server must still pass 1.1:\n%s", flaw, describe(rep))
					for _, id := range ids {
						passed, ok := got[id]
						require.True(t, ok, "spec %s did not run", id)
						require.False(t, passed, "spec %s must fail on a server with flaw %s", id, flaw)
					}
				})
			}
		})
	}
}

// TestBlockingSolutionIsNotConcurrent grades the chapter 1 solution, which serves one connection at a time,
// with chapter 2's concurrency spec: the spec must tell it from a threaded server.
func TestBlockingSolutionIsNotConcurrent(t *testing.T) {
	t.Parallel() // these self-checks mostly wait on servers: they run side by side (make test: -parallel)
	if testing.Short() {
		t.Skip("grades real servers")
	}
	root := repoRootT(t)
	bin := filepath.Join(t.TempDir(), "blocking")
	require.NoError(t, harness.Build(context.Background(), filepath.Join(root, "solutions", "01-blocking"), bin, false))
	ch1, err := specs.ForChapter(1)
	require.NoError(t, err)
	ch2, err := specs.ForChapter(2)
	require.NoError(t, err)
	var concurrency spec.Spec
	for _, s := range ch2.Specs {
		if s.ID == "2.1" {
			concurrency = s
		}
	}
	require.NotNil(t, concurrency.Check, "chapter 2 has no spec 2.1")
	concurrency.Flags = nil // the chapter 1 server takes no pool flags, and has no pool to size

	rep := spec.Run(context.Background(), spec.Config{
		Chapter: 2,
		Specs:   []spec.Spec{ch2.Specs[0], concurrency},
		Server:  harness.ServerConfig{Command: []string{bin}, Flags: ch1.Flags},
	})
	require.Equal(t, "1.1", rep.Results[0].ID)
	require.True(t, rep.Results[0].Passed, "the blocking server must pass 1.1:\n%s", describe(&rep))
	require.False(t, rep.Results[1].Passed, "the blocking server must fail 2.1, the concurrency spec")
	require.Contains(t, rep.Results[1].Message, "ran one after the other")
}

func keys(m map[string][]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func quoteAll(ids []string) []string {
	var q []string
	for _, id := range ids {
		q = append(q, regexp.QuoteMeta(id))
	}
	return q
}

func repoRootT(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join(".."))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.work"))
	require.NoError(t, err, "the tests run from grader/, below the repository root")
	return root
}

// TestSolutionsAreComplete checks that no solution file still holds a starter's TODO or its "not written yet"
// answer: a solution is the whole answer, and what a given file shares with the starter must not carry them.
func TestSolutionsAreComplete(t *testing.T) {
	root := repoRootT(t)
	files, err := filepath.Glob(filepath.Join(root, "solutions", "*", "*.go"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, mark := range []string{"TODO", "not written yet"} {
			require.NotContains(t, string(b), mark, "%s: a solution must be complete", f)
		}
	}
}

// TestGivenFilesMatchSolutions checks that a starter's given files, those without a TODO for the learner,
// are the solution's own, byte for byte: the learner builds on the code the solution was tested with.
func TestGivenFilesMatchSolutions(t *testing.T) {
	root := repoRootT(t)
	for _, n := range specs.Numbers() {
		ch, err := specs.ForChapter(n)
		require.NoError(t, err)
		files, err := filepath.Glob(filepath.Join(root, "chapters", ch.Slug, "*.go"))
		require.NoError(t, err)
		require.NotEmpty(t, files, "chapter %d has no starter", n)
		todo := 0
		for _, f := range files {
			starter, err := os.ReadFile(f)
			require.NoError(t, err)
			if bytes.Contains(starter, []byte("TODO")) {
				todo++
				continue
			}
			solution, err := os.ReadFile(filepath.Join(root, "solutions", ch.Slug, filepath.Base(f)))
			if os.IsNotExist(err) {
				continue // the starter's own, such as a file the learner fills in
			}
			require.NoError(t, err)
			require.Equal(t, string(solution), string(starter), "chapters/%s/%s is given to the learner: it must be the solution's own", ch.Slug, filepath.Base(f))
		}
		require.NotZero(t, todo, "chapter %d's starter has no TODO for the learner", n)
	}
}

// TestStepTests runs the step tests of each chapter that has them (its starter's TestStepN functions, which
// `make check` runs): every step must fail on the starter, where its TODOs are, and pass on the solution,
// under the race detector. The solution gets the starter's test files through an overlay (go help build), so
// that they exist in one copy, in the folder the learner works in.
func TestStepTests(t *testing.T) {
	t.Parallel() // these self-checks mostly wait on servers: they run side by side (make test: -parallel)
	if testing.Short() {
		t.Skip("builds and runs each chapter's step tests")
	}
	root := repoRootT(t)
	for _, n := range specs.Numbers() {
		ch, err := specs.ForChapter(n)
		require.NoError(t, err)
		tests, err := filepath.Glob(filepath.Join(root, "chapters", ch.Slug, "*_test.go"))
		require.NoError(t, err)
		if len(tests) == 0 {
			continue // a chapter without step tests
		}
		t.Run(ch.Slug, func(t *testing.T) {
			replace := map[string]string{}
			for _, f := range tests {
				replace[filepath.Join(root, "solutions", ch.Slug, filepath.Base(f))] = f
			}

			out, err := goTest(root, "-run", "^TestStep[0-9]", "./chapters/"+ch.Slug)
			require.Error(t, err, "the step tests pass on the starter:\n%s", out)
			steps := regexp.MustCompile(`(?m)^TestStep(\d+)`).FindAllStringSubmatch(listTests(t, root, "./chapters/"+ch.Slug), -1)
			require.NotEmpty(t, steps, "chapters/%s has test files but no TestStepN functions", ch.Slug)
			for _, s := range steps {
				require.Regexp(t, `(?m)^--- FAIL: TestStep`+s[1]+`[^0-9]`, out, "step %s passes on the starter: its tests cannot fail", s[1])
			}

			overlay, err := json.Marshal(map[string]any{"Replace": replace})
			require.NoError(t, err)
			path := filepath.Join(t.TempDir(), "overlay.json")
			require.NoError(t, os.WriteFile(path, overlay, 0o644))
			out, err = goTest(root, "-race", "-overlay", path, "-run", "^TestStep[0-9]", "./solutions/"+ch.Slug)
			require.NoError(t, err, "the step tests fail on the solution:\n%s", out)
		})
	}
}

// goTest runs go test with args in the repository, and returns its output.
func goTest(root string, args ...string) (string, error) {
	cmd := exec.Command("go", append([]string{"test", "-count=1", "-timeout", "3m"}, args...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// listTests returns the names of the tests of pkg, one a line.
func listTests(t *testing.T, root, pkg string) string {
	t.Helper()
	cmd := exec.Command("go", "test", "-list", ".", pkg)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}
