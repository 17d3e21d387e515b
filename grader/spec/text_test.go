package spec

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

// sampleReport is a run of three specs: one passes with a note, one fails with an exchange in view, one
// passes.
func sampleReport() *Report {
	return &Report{
		Chapter: 1, Title: "blocking", Target: "chapters/01-blocking", Seed: 7,
		Results: []Result{
			{ID: "1.1", Title: "GET /hello is answered", Points: 2, Earned: 2, Passed: true, Ran: true, Duration: 1500 * time.Microsecond},
			{
				ID: "1.7", Title: "keep-alive", Points: 1, Ran: true, Duration: 12 * time.Millisecond,
				Message: "GET /hello HTTP/1.1: got 404 Not Found, want 200 OK",
				Details: Details{
					Sent:     "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
					Got:      "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\n\x00\xffé",
					Expected: "200 OK",
				},
				Logs:        []string{"one request sent"},
				Transcripts: []string{"> GET /hello HTTP/1.1\\r\\n\n"},
				Addr:        "127.0.0.1:4000",
				Why:         "chapters/01-blocking/README.md#keep-alive",
				Hint:        "go back to reading the next request.",
				Repro:       "printf 'GET /hello HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' | nc 127.0.0.1 4000",
			},
			{ID: "1.23", Title: "head-of-line blocking (measured)", Points: 1, Earned: 1, Passed: true, Ran: true, Duration: 602 * time.Millisecond,
				Notes: []string{"took 602ms in all"}},
		},
		Score: 3, Total: 4,
		Start: "go run ./chapters/01-blocking -addr {addr} {flags}",
		Flags: []string{"-idle-timeout", "1s"},
		Again: "make grade CHAPTER=1",
	}
}

func TestPrinterText(t *testing.T) {
	var b bytes.Buffer
	(&Printer{W: &b}).Print(sampleReport())
	want := `Grading chapter 1: blocking (chapters/01-blocking), seed 7
PASS 1.1   GET /hello is answered                             2/2 2ms
FAIL 1.7   keep-alive                                         0/1 12ms
       GET /hello HTTP/1.1: got 404 Not Found, want 200 OK
       sent:
         GET /hello HTTP/1.1\r\n
         Host: 127.0.0.1\r\n
         \r\n
       got:
         HTTP/1.1 404 Not Found\r\n
         Content-Length: 3\r\n
         \r\n
         \x00\xffé
       expected: 200 OK
       log: one request sent
       why: read chapters/01-blocking/README.md#keep-alive
       hint: go back to reading the next request.
       try: printf 'GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' | nc 127.0.0.1 4000
PASS 1.23  head-of-line blocking (measured)                   1/1 602ms
       note: took 602ms in all
Chapter 1: 3/4
Next step: 1.7 keep-alive: go back to reading the next request.
To try its repro line, start your server with: go run ./chapters/01-blocking -addr 127.0.0.1:4000 -idle-timeout 1s
More help: make hint CHAPTER=1
`
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Errorf("text report (-want +got):\n%s", d)
	}
}

func TestPrinterNextStep(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *Report)
		want string // the lines after the score
	}{
		{"all pass, more chapters", func(r *Report) { r.Results = r.Results[:1]; r.NextChapter = 2 },
			"Every spec passes. Next step: chapter 2 (make grade CHAPTER=2).\n"},
		{"all pass, last chapter", func(r *Report) { r.Results = r.Results[:1] },
			"Every spec passes: well done.\n"},
		{"build failed", func(r *Report) {
			r.Results = nil
			r.Problems = []string{"the build of chapters/01-blocking failed: fix the compiler errors below"}
			r.Output = "./server.go:3:1: syntax error"
		}, "Next step: fix the build errors above, then run make grade CHAPTER=1 again.\n"},
		{"server did not start", func(r *Report) {
			r.Results = []Result{{ID: "1.1", Title: "GET /hello is answered", Points: 2, Message: "not run: the server did not start: it exited"}}
		}, "Next step: start the server by hand (go run ./chapters/01-blocking -addr 127.0.0.1:8080 -idle-timeout 1s) and read what it prints; " +
			"it must keep running and listen on the address it is given. More help: make hint CHAPTER=1\n"},
		{"the server exited at its start with a message", func(r *Report) {
			r.Results = []Result{{ID: "1.1", Title: "GET /hello is answered", Points: 2,
				Message: "not run: the server did not start: the server exited with status 1 before accepting connections on 127.0.0.1:9; its output ends with:\nlistening on 127.0.0.1:9\nthe worker pool is not written yet: see the TODOs in pool.go\n"}}
		}, "Next step: your server exited as it started, saying: the worker pool is not written yet: see the TODOs in pool.go\n" +
			"To see all it prints, start it by hand: go run ./chapters/01-blocking -addr 127.0.0.1:8080 -idle-timeout 1s\n" +
			"More help: make hint CHAPTER=1\n"},
		{"the server stopped with a message", func(r *Report) {
			r.Start = ""
			r.Results = []Result{{ID: "1.1", Title: "GET /hello is answered", Points: 2, Ran: true, Hint: "accept and answer",
				Message: "the server exited during this check (exit status 1)",
				Server:  "the server exited (exit status 1); its last output:\nlistening on 127.0.0.1:1\nread (conn.go) is not written yet: see its TODO\n"}}
		}, "Next step: your server stopped during 1.1, saying: read (conn.go) is not written yet: see its TODO\nMore help: make hint CHAPTER=1\n"},
		{"the server panicked", func(r *Report) {
			r.Start = ""
			r.Results = []Result{{ID: "1.1", Title: "GET /hello is answered", Points: 2, Ran: true,
				Message: "the server exited during this check (exit status 2)",
				Server: "the server exited (exit status 2); its last output:\npanic: runtime error: index out of range [3] with length 3\n\n" +
					"goroutine 1 [running]:\nmain.(*loop).read(...)\n\t/x/conn.go:88 +0x45\n"}}
		}, "Next step: your server stopped during 1.1, saying: panic: runtime error: index out of range [3] with length 3\nMore help: make hint CHAPTER=1\n"},
		{"interrupted", func(r *Report) { r.Stopped = "interrupt signal received" },
			"The run was stopped before the end (interrupt signal received): the specs not run count as failed. To finish it, run make grade CHAPTER=1 again.\n"},
		{"interrupted, another target", func(r *Report) { r.Stopped = "interrupt signal received"; r.Again = "" },
			"The run was stopped before the end (interrupt signal received): the specs not run count as failed. To finish it, grade again.\n"},
		{"a spec with flags of its own, a command", func(r *Report) {
			r.Start = "python3 s.py --port {port} {flags} -v"
			r.Results[1].Flags = []string{"-body-timeout", "1s"}
		}, "Next step: 1.7 keep-alive: go back to reading the next request.\n" +
			"To try its repro line, start your server with: python3 s.py --port 4000 -idle-timeout 1s -body-timeout 1s -v\n" +
			"More help: make hint CHAPTER=1\n"},
		{"a folder graded in a copy: no start line", func(r *Report) { r.Start = "" },
			"Next step: 1.7 keep-alive: go back to reading the next request.\nMore help: make hint CHAPTER=1\n"},
		{"left processes behind", func(r *Report) {
			r.Results = r.Results[:1]
			r.Problems = []string{"processes left behind: pid 12 (sleep 30) (killed)"}
		}, "Next step: every spec passes, but see the failures above.\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := sampleReport()
			tc.edit(r)
			var b bytes.Buffer
			(&Printer{W: &b}).Footer(r)
			_, after, ok := strings.Cut(b.String(), "Chapter 1: ")
			require.True(t, ok, b.String())
			_, next, _ := strings.Cut(after, "\n")
			require.Equal(t, tc.want, next)
		})
	}
}

func TestPrinterNotes(t *testing.T) {
	r := sampleReport()
	r.Notes = []string{"-cmd has no {flags}, so your server gets none of the flags " + strings.Repeat("word ", 20)}
	var b bytes.Buffer
	(&Printer{W: &b}).Header(r)
	lines := strings.Split(b.String(), "\n")
	require.Equal(t, "NOTE -cmd has no {flags}, so your server gets none of the flags word word word word word word word", lines[1])
	require.True(t, strings.HasPrefix(lines[2], "     word "), "a long note is wrapped and indented: %q", lines[2])
}

func TestStartLine(t *testing.T) {
	tests := []struct {
		start string
		flags []string
		extra []string
		want  string
	}{
		{"go run ./chapters/01-blocking -addr {addr} {flags}", []string{"-a", "1"}, []string{"-b", "2"},
			"go run ./chapters/01-blocking -addr 127.0.0.1:4000 -a 1 -b 2"},
		{"python3 s.py --port {port} {flags} -v", nil, nil, "python3 s.py --port 4000 -v"},
		{"python3 s.py --host {host} --port {port}", []string{"-a", "1"}, nil, "python3 s.py --host 127.0.0.1 --port 4000"},
		{"", []string{"-a", "1"}, nil, ""},
	}
	for _, tc := range tests {
		r := &Report{Start: tc.start, Flags: tc.flags}
		require.Equal(t, tc.want, r.StartLine("127.0.0.1:4000", tc.extra), tc.start)
	}
}

func TestNotRun(t *testing.T) {
	got := NotRun([]Spec{{ID: "1.1", Title: "t", Points: 2, Hint: "h", Why: "w", Flags: []string{"-x", "1"}}}, "the build failed")
	want := []Result{{ID: "1.1", Title: "t", Points: 2, Hint: "h", Why: "w", Flags: []string{"-x", "1"}, Message: "not run: the build failed"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("NotRun (-want +got):\n%s", d)
	}
}

func TestPrinterFooterProblems(t *testing.T) {
	r := sampleReport()
	r.Problems = []string{"processes left behind: pid 12 (sleep 30) (killed)"}
	r.Shutdown = &Shutdown{Status: "killed by signal 9 (SIGKILL)"}
	var b bytes.Buffer
	(&Printer{W: &b}).Footer(r)
	require.True(t, strings.HasPrefix(b.String(),
		"FAIL processes left behind: pid 12 (sleep 30) (killed)\n"+
			"Chapter 1: 3/4\n"), b.String())
}

func TestPrinterVerboseShowsTranscripts(t *testing.T) {
	r := sampleReport()
	r.Results[0].Transcripts = []string{"> GET /hello HTTP/1.1\\r\\n\n< HTTP/1.1 200 OK\\r\\n\n"}
	var quiet, verbose bytes.Buffer
	(&Printer{W: &quiet}).Result(&r.Results[0])
	(&Printer{W: &verbose, Verbose: true}).Result(&r.Results[0])
	require.NotContains(t, quiet.String(), "connection 1")
	require.Contains(t, verbose.String(), "       connection 1:\n         > GET /hello HTTP/1.1\\r\\n\n         < HTTP/1.1 200 OK\\r\\n\n")
}

func TestPrinterColor(t *testing.T) {
	var plain, colored bytes.Buffer
	(&Printer{W: &plain}).Print(sampleReport())
	(&Printer{W: &colored, Color: true}).Print(sampleReport())
	require.NotContains(t, plain.String(), "\x1b[")
	require.Contains(t, colored.String(), "\x1b[32mPASS\x1b[0m 1.1 ")
	require.Contains(t, colored.String(), "\x1b[31mFAIL\x1b[0m 1.7 ")
}

func TestUseColorOffWhenNotATerminal(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "xterm")
	f, err := os.CreateTemp(t.TempDir(), "out")
	require.NoError(t, err)
	defer f.Close()
	require.False(t, UseColor(f), "a file")

	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	require.False(t, UseColor(w), "a pipe")
}

func TestReportJSON(t *testing.T) {
	want := sampleReport()
	want.Shutdown = &Shutdown{Graceful: true, After: 3 * time.Millisecond, Status: "exit status 0"}
	want.Results[1].Details.Got = "HTTP/1.1 404 Not Found\r\n\r\n" // JSON strings hold UTF-8 only
	var b bytes.Buffer
	require.NoError(t, want.WriteJSON(&b))
	require.NotContains(t, b.String(), "\x1b[")

	var got Report
	require.NoError(t, json.Unmarshal(b.Bytes(), &got))
	if d := cmp.Diff(want, &got); d != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", d)
	}
	var raw map[string]any
	require.NoError(t, json.Unmarshal(b.Bytes(), &raw))
	for _, key := range []string{"chapter", "title", "seed", "results", "score", "total", "shutdown", "start", "flags", "again"} {
		require.Contains(t, raw, key)
	}
	for i, want := range []float64{2, 0, 1} {
		res := raw["results"].([]any)[i].(map[string]any)
		require.Equal(t, want, res["earned"], "earned is there, 0 included")
	}
	first := raw["results"].([]any)[1].(map[string]any)
	require.Equal(t, "GET /hello HTTP/1.1: got 404 Not Found, want 200 OK", first["message"])
	require.Equal(t, "200 OK", first["details"].(map[string]any)["expected"])
}

func TestEscape(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  []string
	}{
		{"GET / HTTP/1.1\r\n\r\n", 100, []string{`GET / HTTP/1.1\r\n`, `\r\n`}},
		{"no newline", 100, []string{"no newline"}},
		{"tab\there\\", 100, []string{`tab\there\\`}},
		{"\x00\x7f\xff é", 100, []string{`\x00\x7f\xff é`}},
		{"abcdef", 3, []string{"abc", "... (3 more bytes)"}},
		{"", 10, nil},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, Escape(tc.in, tc.limit), "%q", tc.in)
	}
}

func TestClipLine(t *testing.T) {
	require.Equal(t, "short", clipLine("short", 10))
	require.Equal(t, "abcde... (3 more characters)", clipLine("abcdefgh", 5))
	require.Equal(t, "ab... (4 more characters)", clipLine("abéééé"[:6], 3), "a cut never splits a character")
}

func TestWrap(t *testing.T) {
	require.Equal(t, []string{"one two", "three"}, wrap("one two three", 9))
	require.Equal(t, []string{"a", "b c"}, wrap("a\nb c", 80))
	require.Equal(t, []string{"averyveryverylongword"}, wrap("averyveryverylongword", 5))
}
