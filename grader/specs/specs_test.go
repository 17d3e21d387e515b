package specs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"

	"course/grader/spec"
)

// anchors1 are the sections of the chapter 1 README that specs may point to.
var anchors1 = []string{
	"#the-accept-loop", "#parsing-the-request", "#framing-the-body", "#keep-alive", "#limits",
	"#request-smuggling", "#timeouts", "#head-of-line-blocking", "#the-gateway",
}

func TestTablesAreComplete(t *testing.T) {
	for _, n := range Numbers() {
		ch, err := ForChapter(n)
		require.NoError(t, err)
		require.Equal(t, n, ch.Number)
		require.True(t, strings.HasPrefix(ch.Slug, fmt.Sprintf("%02d-", n)), ch.Slug)
		readme := "chapters/" + ch.Slug + "/README.md#"
		seen := map[string]bool{}
		for _, s := range ch.Specs {
			t.Run(s.ID, func(t *testing.T) {
				require.False(t, seen[s.ID], "duplicate id")
				seen[s.ID] = true
				require.NotEmpty(t, s.Title)
				require.GreaterOrEqual(t, s.Points, 1)
				require.LessOrEqual(t, s.Points, 3)
				require.NotNil(t, s.Check)
				require.NotEmpty(t, s.Hint)
				// A spec that reads the code names the chapter's folder instead.
				require.Regexp(t, `\{(addr|host|port)\}|chapters/`+ch.Slug, s.Repro, "a repro line names the server by placeholder")
				if strings.HasPrefix(s.ID, fmt.Sprintf("%d.", n)) {
					require.True(t, strings.HasPrefix(s.Why, readme), "a chapter's own specs point to its README: %s", s.Why)
				}
			})
		}
	}
}

func TestChapter1(t *testing.T) {
	ch, err := ForChapter(1)
	require.NoError(t, err)
	require.Equal(t, "01-blocking", ch.Slug)
	require.Equal(t, []string{"-header-timeout", "1s", "-idle-timeout", "1s", "-max-body", "1048576"}, ch.Flags)
	for i, s := range ch.Specs {
		require.Equal(t, fmt.Sprintf("1.%d", i+1), s.ID, "ids follow the order of the table")
		_, anchor, _ := strings.Cut(s.Why, "#")
		require.Contains(t, anchors1, "#"+anchor, s.ID)
	}
	later := correctness1(nil)
	require.Len(t, later, len(ch.Specs)-3, "later chapters rerun all but the head-of-line measurement, the SIGTERM spec and the accept loop's EMFILE, which they have their own of or share with chapter 1's given accept")
	for _, s := range later {
		require.NotEqual(t, headOfLine1.ID, s.ID)
		require.NotEqual(t, outOfFiles1.ID, s.ID)
		require.NotContains(t, s.Title, "SIGTERM")
	}
}

// anchors2 are the sections of the chapter 2 README that its own specs may point to.
var anchors2 = []string{
	"#one-goroutine-per-connection", "#a-pool-of-workers", "#the-request-queues", "#overload-and-503",
	"#idle-connections", "#timeouts-and-504", "#shared-data-and-races", "#wsgi-multithread", "#graceful-shutdown",
}

func TestChapter2(t *testing.T) {
	ch, err := ForChapter(2)
	require.NoError(t, err)
	require.Equal(t, "02-threaded", ch.Slug)
	require.True(t, ch.Race, "chapter 2 grades data races: its server is built with the race detector")
	require.Equal(t, append(flags1(), "-workers", "4", "-queue", "8", "-queue-timeout", "2s", "-request-timeout", "5s"), ch.Flags)

	var ids, own []string
	for _, s := range ch.Specs {
		ids = append(ids, s.ID)
		if strings.HasPrefix(s.ID, "2.") {
			own = append(own, s.ID)
			_, anchor, _ := strings.Cut(s.Why, "#")
			require.Contains(t, anchors2, "#"+anchor, s.ID)
			require.False(t, s.Stops && !s.Fresh && len(s.Flags) == 0, "%s stops a server it does not own", s.ID)
		}
	}
	var want []string
	for _, s := range correctness1(nil) {
		want = append(want, s.ID)
	}
	require.Equal(t, want, ids[:len(want)], "chapter 1's correctness specs come first, with their ids")
	for i, id := range own {
		require.Equal(t, fmt.Sprintf("2.%d", i+1), id, "ids follow the order of the table")
	}
}

func TestEnvironFlags(t *testing.T) {
	for _, tc := range []struct {
		name     string
		wsgi     map[string]string
		mentions bool
	}{
		{"chapter 1", blockingFlags, true},
		{"later chapters", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var environ *spec.Spec
			for _, s := range correctness1(tc.wsgi) {
				if s.ID == "1.11" {
					environ = &s
				}
			}
			require.NotNil(t, environ)
			require.Equal(t, tc.mentions, strings.Contains(environ.Hint, "wsgi.multithread"), environ.Hint)
		})
	}
}

// TestWhyPointsToASection checks that the README section each spec points to exists: a heading whose
// GitHub anchor is the one given, or an explicit <a id="...">.
func TestWhyPointsToASection(t *testing.T) {
	for _, n := range Numbers() {
		ch, err := ForChapter(n)
		require.NoError(t, err)
		for _, s := range ch.Specs {
			path, anchor, ok := strings.Cut(s.Why, "#")
			require.True(t, ok, "%s: %q names no section", s.ID, s.Why)
			data, err := os.ReadFile(filepath.Join("..", "..", path))
			require.NoError(t, err, s.ID)
			require.Contains(t, sections(string(data)), anchor, "%s: %s has no such section", s.ID, path)
		}
	}
}

// sections returns the anchors of a Markdown document: the GitHub anchor of each heading, and the id of each
// <a id="..."> tag.
func sections(md string) []string {
	var out []string
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "#") {
			out = append(out, slug(strings.TrimLeft(line, "# ")))
		}
		for _, m := range anchorTag.FindAllStringSubmatch(line, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

var anchorTag = regexp.MustCompile(`<a id="([^"]+)"></a>`)

// slug returns the anchor GitHub gives a heading: lower case, punctuation dropped, spaces made dashes.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestPlural(t *testing.T) {
	require.Equal(t, "1 answer", plural(1, "answer"))
	require.Equal(t, "0 answers", plural(0, "answer"))
	require.Equal(t, "4 connections", plural(4, "connection"))
}

func TestSlug(t *testing.T) {
	require.Equal(t, "overload-and-503", slug("Overload and 503"))
	require.Equal(t, "wsgimultithread", slug("wsgi.multithread"))
	require.Equal(t, "the-gateway-environ", slug("The gateway: `environ`"))
}

func TestForChapterUnknown(t *testing.T) {
	_, err := ForChapter(42)
	require.EqualError(t, err, fmt.Sprintf("no specs for chapter 42 (chapters with specs: %v)", Numbers()))
}

func TestChunked(t *testing.T) {
	got := chunked([]chunk{{data: "Hello", ext: ";a=b"}, {data: strings.Repeat("x", 26)}, {data: "abc", size: "003"}}, "X-T: 1")
	require.Equal(t, "5;a=b\r\nHello\r\n1A\r\n"+strings.Repeat("x", 26)+"\r\n003\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", got)
	require.Equal(t, "0\r\n\r\n", chunked(nil))
	require.Equal(t, []int64{5, 26, 3}, chunkSizes([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+got)))
}

func TestRequestHelpers(t *testing.T) {
	require.Equal(t, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", get("/hello", "Connection: close"))
	require.Equal(t, "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nhi", request("POST", "/echo", "hi", "Content-Length: 2"))
	require.Equal(t, "GET /hello HTTP/1.1", firstLine(get("/hello")))
	require.Equal(t, "GET /"+strings.Repeat("a", 45)+"... (70 bytes)", firstLine(get("/"+strings.Repeat("a", 56))))
	require.Equal(t, `\x00\xff`, firstLine("\x00\xff\r\nrest"))
}

func TestPick(t *testing.T) {
	env := map[string]string{"A": "1", "B": ""}
	require.Equal(t, map[string]string{"A": "1", "B": "", "C": "(missing)"}, pick(env, []string{"A", "B", "C"}))
	require.Equal(t, []string{"A", "B"}, keys(env))
}

// TestArchitectureFails checks that spec 3.1 fails on each thing it looks for, alone, and passes without them.
func TestArchitectureFails(t *testing.T) {
	ch, err := ForChapter(3)
	require.NoError(t, err)
	var arch []spec.Spec
	for _, sp := range ch.Specs {
		if sp.ID == "3.1" {
			arch = append(arch, sp)
		}
	}
	require.Len(t, arch, 1, "chapter 3 has a spec 3.1")
	tests := []struct {
		dir  string
		want string // in the failure; "" for a pass
	}{
		{"ok", ""},
		{"gostmt", "starts goroutines (main.go:11)"},
		{"wggo", "starts goroutines ((*sync.WaitGroup).Go (main.go:13))"},
		{"netimport", "imports net (main.go:5)"},
		{"blocking", "calls launch.Accept (main.go:13)"},
		{"noepoll", "never calls unix.EpollWait"},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			rep := spec.Run(context.Background(), spec.Config{Chapter: 3, Specs: arch, Source: filepath.Join("testdata", "arch", tt.dir)})
			require.Len(t, rep.Results, 1)
			r := rep.Results[0]
			if tt.want == "" {
				require.True(t, r.Passed, r.Message)
				return
			}
			require.False(t, r.Passed, "3.1 must fail on testdata/arch/%s", tt.dir)
			require.Contains(t, r.Message, tt.want)
		})
	}
}

func TestNotLetters(t *testing.T) {
	require.Equal(t, -1, notLetters([]byte("abcdefghijklmnopqrstuvwxyzabc")))
	require.Equal(t, -1, notLetters(nil))
	require.Equal(t, 27, notLetters([]byte("abcdefghijklmnopqrstuvwxyzaXc")))
}

func TestChapter3(t *testing.T) {
	ch, err := ForChapter(3)
	require.NoError(t, err)
	require.True(t, ch.Race, "chapter 3 is built with the race detector: the loop and the workers share each response")
	var own []string
	for _, s := range ch.Specs {
		if strings.HasPrefix(s.ID, "3.") {
			own = append(own, s.ID)
		}
	}
	for i, id := range own {
		require.Equal(t, fmt.Sprintf("3.%d", i+1), id, "ids follow the order of the table")
	}
}

// TestShutdownSpecs checks that the chapters whose SIGTERM spec is shutdownSpec's have one, that overrides the
// grader's short idle timeout, and passes -shutdown-timeout only to a server that has the flag (chapter 1's has
// not).
func TestShutdownSpecs(t *testing.T) {
	for _, n := range []int{1, 2, 3} {
		ch, err := ForChapter(n)
		require.NoError(t, err)
		var stops []spec.Spec
		for _, s := range ch.Specs {
			if s.Stops {
				stops = append(stops, s)
			}
		}
		require.Len(t, stops, 1, "chapter %d has one SIGTERM spec", n)
		s := stops[0]
		require.True(t, strings.HasPrefix(s.ID, fmt.Sprintf("%d.", n)), s.ID)
		require.Contains(t, strings.Join(s.Flags, " "), "-idle-timeout "+stopIdleTimeout, "the server's default idle timeout, not the grader's 1s")
		require.Equal(t, n > 1, slices.Contains(s.Flags, "-shutdown-timeout"), "chapter %d: -shutdown-timeout from chapter 2 on", n)
		for name, c := range s.Cases {
			require.NotEmpty(t, c.Hint, "%s: the sub-case %q has a hint of its own", s.ID, name)
		}
	}
}

// anchors4 are the sections of the chapter 4 README that its own specs may point to.
var anchors4 = []string{
	"#step-1-one-socket-one-worker", "#step-2-n-workers-reaped-and-replaced", "#step-3-sigterm-sigttin-and-sigttou",
	"#step-4-heartbeats-and-the-timeout", "#step-5-workers-that-cannot-boot", "#step-6-reload-on-sighup",
	"#what-the-app-is-told", "#sharing-data-between-processes", "#a-file-under-a-lock", "#shared-memory",
	"#recycling-workers", "#when-the-master-dies",
}

func TestChapter4(t *testing.T) {
	ch, err := ForChapter(4)
	require.NoError(t, err)
	require.Equal(t, "04-prefork", ch.Slug)
	require.True(t, ch.Race, "chapter 4 is built with the race detector")
	var own []string
	for _, s := range ch.Specs {
		if !strings.HasPrefix(s.ID, "4.") {
			continue
		}
		own = append(own, s.ID)
		_, anchor, _ := strings.Cut(s.Why, "#")
		require.Contains(t, anchors4, "#"+anchor, s.ID)
		require.False(t, s.Stops && !s.Fresh && len(s.Flags) == 0, "%s stops a server it does not own", s.ID)
	}
	for i, id := range own {
		require.Equal(t, fmt.Sprintf("4.%d", i+1), id, "ids follow the order of the table")
	}
	// Two tables use two settings files: no two servers share one.
	a, b := prefork4(), prefork4()
	require.NotEqual(t, a[8].Flags, b[8].Flags)
}

// anchors5 are the sections of the chapter 5 README that its own specs may point to.
var anchors5 = []string{
	"#the-hop-step-by-step", "#what-the-app-is-told", "#step-6-the-queue-and-its-timeouts",
	"#step-7-requests-that-never-end", "#when-a-daemon-dies", "#when-the-client-goes-away", "#restarts", "#stopping",
	"#step-8-a-real-wsgi-application",
}

func TestChapter5(t *testing.T) {
	ch, err := ForChapter(5)
	require.NoError(t, err)
	require.Equal(t, "05-daemon", ch.Slug)
	require.True(t, ch.Race, "chapter 5 is built with the race detector: its Go daemons too")
	var own []string
	for _, s := range ch.Specs {
		if !strings.HasPrefix(s.ID, "5.") {
			continue
		}
		own = append(own, s.ID)
		_, anchor, _ := strings.Cut(s.Why, "#")
		require.Contains(t, anchors5, "#"+anchor, s.ID)
		require.NotEmpty(t, s.Flags, "%s: a server of its own, sized for what it checks", s.ID)
		if strings.Contains(s.Title, "Python") || strings.Contains(s.Title, "Flask") {
			require.Contains(t, s.Flags, "python", "%s runs Python daemons", s.ID)
		}
	}
	for i, id := range own {
		require.Equal(t, fmt.Sprintf("5.%d", i+1), id, "ids follow the order of the table")
	}
}
