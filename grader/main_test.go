package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"course/grader/spec"
)

// serverEnv makes the test binary run as a server under test (see TestMain).
const serverEnv = "GRADER_TEST_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		os.Exit(helloServer(os.Args[1:]))
	}
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
	return shellQuote(exe) + " -addr {addr}"
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
	require.Regexp(t, `^Grading chapter 1: blocking \(.* -addr \{addr\}\), seed 5$`, lines[0])
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
	require.NotNil(t, rep.Shutdown)
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
	require.Equal(t, "-max-body 1048576 'a b' 'it'\\''s' ''", shellJoin([]string{"-max-body", "1048576", "a b", "it's", ""}))
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
