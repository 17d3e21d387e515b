package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"course/grader/spec"
	"course/grader/specs"
)

// serverEnv makes the test binary run as a server under test (see TestMain).
const serverEnv = "GRADER_TEST_SERVER"

// graderEnv makes the test binary run as the grader itself, to be signalled as a process.
const graderEnv = "GRADER_TEST_GRADER"

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(serverEnv) == "1":
		os.Exit(helloServer(os.Args[1:]))
	case os.Getenv(graderEnv) == "1":
		os.Unsetenv(graderEnv)
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	// The servers graded here must not replace a learner's last report, which -hint reads.
	keepLast = false
	os.Exit(m.Run())
}

// helloServer answers every request head with 200 "Hello, World!\n", one connection at a time: it passes
// spec 1.1 and fails 1.3 (it takes requests without a Host).
func helloServer(args []string) int {
	fs := flag.NewFlagSet("hello", flag.ContinueOnError)
	addr := fs.String("addr", "", "listen address")
	fs.String("header-timeout", "", "")
	fs.String("idle-timeout", "", "")
	fs.String("max-body", "", "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return 1
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				break
			}
			if line == "\r\n" {
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nHello, World!\n")
			}
		}
		c.Close()
	}
}

// grade runs the command with args and returns its exit status, stdout and stderr.
func grade(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// helloCmd returns a -cmd that starts helloServer.
func helloCmd(t *testing.T) string {
	t.Helper()
	t.Setenv(serverEnv, "1")
	exe, err := os.Executable()
	require.NoError(t, err)
	return shellQuote(exe) + " -addr {addr} {flags}"
}

func TestExitStatus(t *testing.T) {
	cmd := helloCmd(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // a part of stdout
		stderr string // a part of stderr
	}{
		{"no chapter", nil, exitUsage, "", "which chapter? give -chapter N"},
		{"unknown chapter", []string{"-chapter", "99"}, exitUsage, "", "no specs for chapter 99"},
		{"stray argument", []string{"-chapter", "1", "extra"}, exitUsage, "", `unexpected arguments ["extra"]`},
		{"dir and cmd", []string{"-chapter", "1", "-dir", ".", "-cmd", "x"}, exitUsage, "", "give -dir or -cmd, not both"},
		{"bad pattern", []string{"-chapter", "1", "-run", "("}, exitUsage, "", "-run \"(\": "},
		{"no match", []string{"-chapter", "1", "-run", "nothing-like-this"}, exitUsage, "", "matches no spec"},
		{"no such dir", []string{"-chapter", "1", "-dir", "/nonexistent/dir"}, exitUsage, "", "/nonexistent/dir: no such folder"},
		{"bad count", []string{"-chapter", "1", "-count", "0"}, exitUsage, "", "-count 0"},
		{"unknown flag", []string{"-chapter", "1", "-frobnicate"}, exitUsage, "", "flag provided but not defined: -frobnicate"},
		{"unterminated quote", []string{"-chapter", "1", "-cmd", "server 'x"}, exitUsage, "", "-cmd: unterminated single quote"},
		{"cmd without a port", []string{"-chapter", "1", "-cmd", "python3 server.py"}, exitUsage, "", "does not say where the server must listen: put {port}"},
		{"flags inside a word", []string{"-chapter", "1", "-cmd", "s --port {port} --opts={flags}"}, exitUsage, "", "{flags} must be a word of its own"},
		{"-o in no folder", []string{"-chapter", "1", "-o", "/nonexistent/r.xml"}, exitUsage, "", "-o /nonexistent/r.xml: no folder /nonexistent"},
		{"all pass", []string{"-chapter", "1", "-run", "1.1", "-cmd", cmd}, exitPass, "PASS 1.1 ", ""},
		{"some fail", []string{"-chapter", "1", "-run", "1.[13]", "-cmd", cmd}, exitFail, "FAIL 1.3 ", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := grade(t, tc.args...)
			require.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			require.Contains(t, stdout, tc.stdout)
			require.Contains(t, stderr, tc.stderr)
		})
	}
}

func TestTextOutput(t *testing.T) {
	code, stdout, _ := grade(t, "-chapter", "1", "-run", "1.[13]", "-seed", "5", "-cmd", helloCmd(t))
	require.Equal(t, exitFail, code)
	lines := strings.Split(stdout, "\n")
	require.Regexp(t, `^Grading chapter 1: blocking \(.* -addr \{addr\} \{flags\}\), seed 5$`, lines[0])
	require.Regexp(t, `^PASS 1\.1 +GET /hello is answered +2/2 `, lines[1])
	require.Regexp(t, `^FAIL 1\.3 +an HTTP/1.1 request needs exactly one Host +0/1 `, lines[2])
	require.Contains(t, stdout, "       no Host: GET /hello HTTP/1.1: got 200 OK, want 400 Bad Request\n")
	require.Contains(t, stdout, "       try: printf 'GET /hello HTTP/1.1\\r\\n\\r\\n' | nc 127.0.0.1 ")
	require.Contains(t, stdout, "\nChapter 1: 2/3\nNext step: 1.3 an HTTP/1.1 request needs exactly one Host: ")
	require.Contains(t, stdout, "\nMore help: make hint CHAPTER=1\n")
	require.NotContains(t, stdout, "\x1b[", "no colour when stdout is not a terminal")
}

func TestJSONOutput(t *testing.T) {
	code, stdout, _ := grade(t, "-chapter", "1", "-run", "1.[13]", "-json", "-cmd", helloCmd(t))
	require.Equal(t, exitFail, code)
	var rep spec.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), "stdout must be one JSON document:\n%s", stdout)
	require.Equal(t, 1, rep.Chapter)
	require.Equal(t, 2, rep.Score)
	require.Equal(t, 3, rep.Total)
	require.Len(t, rep.Results, 2)
	require.True(t, rep.Results[0].Passed)
	require.False(t, rep.Results[1].Passed)
	require.Contains(t, rep.Results[1].Repro, "| nc 127.0.0.1 ")
	require.Equal(t, []int{2, 0}, []int{rep.Results[0].Earned, rep.Results[1].Earned})
	require.NotNil(t, rep.Shutdown)
	require.Equal(t, helloCmd(t), rep.Start)
	require.Equal(t, []string{"-header-timeout", "1s", "-idle-timeout", "1s", "-max-body", "1048576"}, rep.Flags)
}

// Without {flags}, the server is started with none, and the report says so before the results.
func TestCmdWithoutFlags(t *testing.T) {
	cmd := strings.TrimSuffix(helloCmd(t), " {flags}")
	code, stdout, _ := grade(t, "-chapter", "1", "-run", "1.1", "-cmd", cmd)
	require.Equal(t, exitPass, code, stdout)
	lines := strings.Split(stdout, "\n")
	require.True(t, strings.HasPrefix(lines[1], "NOTE -cmd has no {flags}, so your server gets none of the flags"), lines[1])

	code, stdout, _ = grade(t, "-chapter", "1", "-run", "1.1", "-cmd", cmd, "-json")
	require.Equal(t, exitPass, code)
	var rep spec.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Len(t, rep.Notes, 1)
	require.Contains(t, rep.Notes[0], "(-header-timeout, -idle-timeout, -max-body, -body-timeout, -write-timeout)")
	require.Nil(t, rep.Flags, "no flags were passed")
	require.Equal(t, cmd, rep.Start)
}

// -o writes the report to a file as well, JSON or JUnit XML by its name, in every mode.
func TestOutputFile(t *testing.T) {
	dir := t.TempDir()
	cmd := helloCmd(t)
	for _, name := range []string{"report.json", "report.xml"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			code, stdout, _ := grade(t, "-chapter", "1", "-run", "1.[13]", "-cmd", cmd, "-o", path)
			require.Equal(t, exitFail, code)
			require.Contains(t, stdout, "FAIL 1.3 ", "the text report is printed as well")
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			if name == "report.json" {
				var rep spec.Report
				require.NoError(t, json.Unmarshal(data, &rep))
				require.Equal(t, 2, rep.Score)
				require.Len(t, rep.Results, 2)
				return
			}
			var doc struct {
				Tests    int `xml:"tests,attr"`
				Failures int `xml:"failures,attr"`
				Suite    struct {
					Cases []struct {
						Name    string `xml:"name,attr"`
						Failure *struct {
							Text string `xml:",chardata"`
						} `xml:"failure"`
					} `xml:"testcase"`
				} `xml:"testsuite"`
			}
			require.NoError(t, xml.Unmarshal(data, &doc), string(data))
			require.Equal(t, 3, doc.Tests, "1.1, 1.3 and the run")
			require.Equal(t, 1, doc.Failures)
			require.Equal(t, "1.3 an HTTP/1.1 request needs exactly one Host", doc.Suite.Cases[1].Name)
			require.Contains(t, doc.Suite.Cases[1].Failure.Text, "want 400 Bad Request")
		})
	}
}

func TestCount(t *testing.T) {
	cmd := helloCmd(t)
	code, stdout, _ := grade(t, "-chapter", "1", "-run", "1.1", "-count", "2", "-cmd", cmd)
	require.Equal(t, exitPass, code)
	require.Contains(t, stdout, ", run 1 of 2\n")
	require.Contains(t, stdout, ", run 2 of 2\n")

	code, stdout, _ = grade(t, "-chapter", "1", "-run", "1.3", "-count", "3", "-cmd", cmd)
	require.Equal(t, exitFail, code)
	require.Contains(t, stdout, ", run 1 of 3\n")
	require.NotContains(t, stdout, "run 2 of 3", "a failing run ends the series")
}

func TestBuildFailure(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module broken\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { undefinedThing() }\n"), 0o644))

	code, stdout, _ := grade(t, "-chapter", "1", "-dir", dir)
	require.Equal(t, exitUsage, code)
	require.Contains(t, stdout, "FAIL the build of "+dir+" failed: fix the compiler errors below\n")
	require.Contains(t, stdout, "undefined: undefinedThing")
	require.Regexp(t, `\nChapter 1: 0/\d+\nNext step: fix the build errors above`, stdout)

	code, stdout, _ = grade(t, "-chapter", "1", "-dir", dir, "-json")
	require.Equal(t, exitUsage, code)
	var rep spec.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Contains(t, rep.Output, "undefined: undefinedThing")
	require.False(t, rep.Passed())
	ch, err := specs.ForChapter(1)
	require.NoError(t, err)
	require.Len(t, rep.Results, len(ch.Specs), "every spec selected is in the report, not run")
	for _, r := range rep.Results {
		require.False(t, r.Ran || r.Passed, r.ID)
		require.Equal(t, "not run: the build failed", r.Message, r.ID)
	}
}

// A student's chapter folder, anywhere on disk, is graded in a copy of the course workspace, with the note
// that it calls the reference answer, in every mode; nothing of the copy is left behind.
func TestDirOutsideTheCourse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a server")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	student := filepath.Join(t.TempDir(), "alice", "01-blocking")
	src := filepath.Join(repoRootT(t), "solutions", "01-blocking")
	require.NoError(t, copyTree(src, student, nil))

	code, stdout, stderr := grade(t, "-chapter", "1", "-run", "1.1", "-dir", student, "-json")
	require.Equal(t, exitPass, code, "%s\n%s", stdout, stderr)
	var rep spec.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Equal(t, student, rep.Target)
	require.Empty(t, rep.Start, "no command starts a copy that is gone")
	require.Contains(t, rep.Notice, "your server calls .HTTP1 (conn.go:")
	require.Contains(t, rep.Notice, "the course's reference answer")

	require.NoError(t, os.WriteFile(filepath.Join(student, "server.go"), []byte("package main\n\nfunc broken() { undefinedThing() }\n"), 0o644))
	code, stdout, _ = grade(t, "-chapter", "1", "-run", "1.1", "-dir", student)
	require.Equal(t, exitUsage, code)
	require.Contains(t, stdout, "FAIL the build of "+student+" failed")
	require.Contains(t, stdout, "undefined: undefinedThing")
	require.NotContains(t, stdout, "/course/chapters/", "the compiler's messages name the student's folder, not the copy")
	require.NotContains(t, stdout, "SKIP", "the text report of a build failure is the compiler's errors, not a line per spec")

	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	require.Empty(t, left, "the copy and the build are removed")
}

// The reference-answer note is given for the learner's own chapter and for -dir, as text and JSON.
func TestNoticeInEveryMode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a server")
	}
	sol := filepath.Join(repoRootT(t), "solutions", "01-blocking")
	_, stdout, _ := grade(t, "-chapter", "1", "-run", "1.1", "-dir", sol)
	require.Contains(t, stdout, "NOTE your server calls .HTTP1 (conn.go:")
	_, stdout, _ = grade(t, "-chapter", "1", "-run", "1.1", "-cmd", helloCmd(t), "-json")
	var rep spec.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Empty(t, rep.Notice, "a command has no code to read")
}

// A hang-up (a closed terminal) stops the grader as SIGTERM and Ctrl-C do: the server is stopped, and the
// temporary build is removed.
func TestSignalsCleanUp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a server")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	sol := filepath.Join(repoRootT(t), "solutions", "01-blocking")
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			tmp := t.TempDir()
			cmd := exec.Command(exe, "-chapter", "1", "-dir", sol, "-run", "1.2[1-4]")
			cmd.Env = append(os.Environ(), graderEnv+"=1", "TMPDIR="+tmp)
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			// Signalled once the first spec runs: the server is up, the binary built.
			r := bufio.NewReader(out)
			for {
				line, err := r.ReadString('\n')
				require.NoError(t, err, "the grader ended before its first spec")
				if strings.HasPrefix(line, "Grading chapter 1") {
					break
				}
			}
			time.Sleep(300 * time.Millisecond)
			require.NoError(t, cmd.Process.Signal(sig))
			rest, _ := io.ReadAll(r)
			err = cmd.Wait()
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, "the grader exits with a status of its own")
			require.Equal(t, exitFail, ee.ExitCode(), string(rest))
			require.Contains(t, string(rest), "The run was stopped before the end ("+sig.String()+" signal received)")
			left, err := os.ReadDir(tmp)
			require.NoError(t, err)
			require.Empty(t, left, "the temporary build is removed")
			require.Empty(t, runProcesses(cmd.Process.Pid), "no process of the graded server is left")
		})
	}
}

// runProcesses returns the pids of the live processes that the servers of the grader with pid grader
// started: they carry the harness's mark in their environment.
func runProcesses(grader int) []int {
	mark := fmt.Appendf(nil, "\x00COURSE_HARNESS_RUN=%d.", grader)
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && bytes.Contains(append([]byte{0}, env...), mark) {
			stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if !bytes.Contains(stat, []byte(") Z ")) {
				pid, _ := strconv.Atoi(e.Name())
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// The grader knows the servers it grades only over the network: none of its packages imports the
// learner's side of the course.
func TestNoLearnerImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".", "./spec", "./specs", "./source").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, pkg := range strings.Fields(string(out)) {
		require.False(t, strings.HasPrefix(pkg, "course/chapters") || strings.HasPrefix(pkg, "course/solutions"),
			"the grader imports %s", pkg)
	}
}

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{"python3 server.py --addr {addr}", []string{"python3", "server.py", "--addr", "{addr}"}, ""},
		{"  a   b\t c ", []string{"a", "b", "c"}, ""},
		{`sh -c 'exec ./srv "$1"' x`, []string{"sh", "-c", `exec ./srv "$1"`, "x"}, ""},
		{`a "b c" "d\"e" "f\g"`, []string{"a", "b c", `d"e`, `f\g`}, ""},
		{`a\ b 'c'd ""`, []string{"a b", "cd", ""}, ""},
		{"", nil, ""},
		{"a 'b", nil, "unterminated single quote"},
		{`a "b`, nil, "unterminated double quote"},
		{`a\`, nil, "backslash at the end"},
	}
	for _, tc := range tests {
		got, err := splitCommand(tc.in)
		if tc.err != "" {
			require.EqualError(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"-max-body": "-max-body", "/tmp/a.b": "/tmp/a.b", "a b": "'a b'", "it's": `'it'\''s'`, "": "''"} {
		require.Equal(t, want, shellQuote(in), in)
	}
}

func TestFilterSpecs(t *testing.T) {
	all := []spec.Spec{{ID: "1.1", Title: "GET /hello"}, {ID: "1.10", Title: "HEAD"}, {ID: "1.2", Title: "Keep-alive for HTTP/1.1"}}
	ids := func(ss []spec.Spec) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.ID)
		}
		return out
	}
	tests := []struct {
		pattern string
		want    []string
	}{
		{"", []string{"1.1", "1.10", "1.2"}},
		{"1.1", []string{"1.1"}},
		{`1\.1.`, []string{"1.10"}},
		{"1.1|1.2", []string{"1.1", "1.2"}},
		{"keep", []string{"1.2"}},
		{"head", []string{"1.10"}},
		{"http/1", []string{"1.2"}},
	}
	for _, tc := range tests {
		got, err := filterSpecs(all, tc.pattern)
		require.NoError(t, err, tc.pattern)
		require.Equal(t, tc.want, ids(got), tc.pattern)
	}
}

// TestRaceFlag checks that only an explicit -race=false turns the race detector off for a chapter that grades
// races.
func TestRaceFlag(t *testing.T) {
	for _, tc := range []struct {
		args         []string
		race, noRace bool
	}{
		{nil, false, false},
		{[]string{"-race"}, true, false},
		{[]string{"-race=false"}, false, true},
	} {
		o, err := parseFlags(append([]string{"-chapter", "2"}, tc.args...), io.Discard)
		require.NoError(t, err)
		require.Equal(t, tc.race, o.race, "%q", tc.args)
		require.Equal(t, tc.noRace, o.noRace, "%q", tc.args)
	}
}
