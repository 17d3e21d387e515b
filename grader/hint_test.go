package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"course/grader/spec"
	"course/grader/specs"
)

func TestShowHint(t *testing.T) {
	ch, err := specs.ForChapter(1)
	require.NoError(t, err)
	first := ch.Specs[0]
	cmd := "python3 server.py --port {port} {flags}"
	tests := []struct {
		name string
		rep  *spec.Report // nil: never graded
		code int
		want []string // parts of the output, in order
		not  []string
	}{
		{"never graded", nil, exitPass,
			[]string{"You have not graded chapter 1 yet", first.Hint, spec.Expand(first.Repro, spec.ByHandAddr)}, nil},
		{"a sub-case failed, under -cmd", &spec.Report{Chapter: 1, Score: 3, Total: 41, Target: cmd, Start: cmd,
			Flags: []string{"-idle-timeout", "1s"}, Results: []spec.Result{
				{ID: "1.1", Passed: true, Ran: true},
				{ID: "1.5", Title: "a chunked body", Ran: true, Case: "trailers", Hint: "the hint of the case",
					Why: "README.md#framing", Addr: "127.0.0.1:40001", Flags: []string{"-body-timeout", "1s"},
					Repro: "printf x | nc 127.0.0.1 40001"},
			}}, exitPass,
			[]string{"at your last grade of chapter 1 (" + cmd + ", 3/41)", "1.5  a chunked body", `in the case "trailers"`,
				"Hint: the hint of the case", "Read: README.md#framing",
				"python3 server.py --port 40001 -idle-timeout 1s -body-timeout 1s\nthen:\n  printf x | nc 127.0.0.1 40001"},
			[]string{"8080", first.Hint}},
		{"a command without {flags}", &spec.Report{Chapter: 1, Start: "python3 s.py --port {port}", Results: []spec.Result{
			{ID: "1.1", Ran: true, Addr: "127.0.0.1:40002", Flags: []string{"-x", "1"}, Repro: "curl 127.0.0.1:40002"}}}, exitPass,
			[]string{"  python3 s.py --port 40002\nthen:\n  curl 127.0.0.1:40002"}, []string{"-x"}},
		{"a folder graded in a copy", &spec.Report{Chapter: 1, Results: []spec.Result{
			{ID: "1.1", Ran: true, Addr: "127.0.0.1:40003", Repro: "curl 127.0.0.1:40003"}}}, exitPass,
			[]string{"with your server started on 127.0.0.1:40003 as the grader did:\n  curl 127.0.0.1:40003"}, nil},
		{"all passed", &spec.Report{Chapter: 1, Score: 2, Total: 2, NextChapter: 2, Results: []spec.Result{
			{ID: "1.1", Passed: true, Ran: true}}}, exitPass, []string{"Every spec passed", "On to chapter 2"}, nil},
		{"all passed, a problem", &spec.Report{Chapter: 1, Score: 2, Total: 2, Problems: []string{"processes left behind: pid 7"},
			Results: []spec.Result{{ID: "1.1", Passed: true, Ran: true}}}, exitPass,
			[]string{"but the run failed", "processes left behind: pid 7"}, nil},
		{"did not start", &spec.Report{Chapter: 1, Total: 41, Start: "go run ./chapters/01-blocking -addr {addr} {flags}",
			Flags: []string{"-max-body", "1"}, Results: []spec.Result{{ID: "1.1", Message: "not run: the server did not start: " +
				"the server exited with status 1 before accepting connections\nlisten: address in use"}}}, exitPass,
			[]string{"your server did not start", "saying: listen: address in use",
				"go run ./chapters/01-blocking -addr 127.0.0.1:8080 -max-body 1", "What the grader saw: the server did not start: "}, nil},
		{"stopped", &spec.Report{Chapter: 1, Results: []spec.Result{{ID: "1.1", Message: "not run: the run was interrupted"}}}, exitPass,
			[]string{"spec 1.1 did not run: the run was interrupted\nGrade again."}, []string{"did not start"}},
		{"did not build", &spec.Report{Chapter: 1, Output: "server.go:3: syntax error"}, exitFail, []string{"did not build"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.rep != nil {
				saveReport(root, tc.rep)
			}
			var b bytes.Buffer
			require.Equal(t, tc.code, showHint(&b, root, ch))
			out := b.String()
			at := 0
			for _, w := range tc.want {
				i := bytes.Index([]byte(out[at:]), []byte(w))
				require.GreaterOrEqual(t, i, 0, "want %q after byte %d of:\n%s", w, at, out)
				at += i + len(w)
			}
			for _, n := range tc.not {
				require.NotContains(t, out, n)
			}
		})
	}
}

func TestReferenceNotice(t *testing.T) {
	refs := []string{"http1.ReadRequest(", ".ServeConn("}
	// A student's folder, outside the course, read in a copy of the course workspace as the grader does.
	write := func(t *testing.T, files map[string]string) string {
		dir := t.TempDir()
		for name, text := range files {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
		}
		pkg, err := copyWorkspace(repoRootT(t), dir, "01-blocking", t.TempDir())
		require.NoError(t, err)
		return pkg
	}
	const head = "package main\n\nimport (\n\t\"bufio\"\n\n\t\"course/chapters/http1\"\n)\n\n"
	tests := []struct {
		name  string
		files map[string]string
		want  string // a part of the notice; "" for none
	}{
		{"a call", map[string]string{"main.go": head + "func main() { http1.ReadRequest(bufio.NewReader(nil), http1.Limits{}) }\n"},
			"your server calls http1.ReadRequest (main.go:9), the course's reference answer"},
		{"a comment, a string, a test", map[string]string{
			"main.go":      head + "// http1.ReadRequest( is what the solution calls.\nvar _ = \"s.ServeConn(\"\n\nvar _ = http1.Limits{}\n\nfunc main() { _ = bufio.NewReader }\n",
			"main_test.go": "package main\n\nimport (\n\t\"bufio\"\n\t\"testing\"\n\n\t\"course/chapters/http1\"\n)\n\nfunc TestX(t *testing.T) { http1.ReadRequest(bufio.NewReader(nil), http1.Limits{}) }\n"},
			""},
		{"a method of its own", map[string]string{"main.go": head + "type srv struct{}\n\nfunc (srv) ServeConn() {}\n\nfunc main() { srv{}.ServeConn(); _ = bufio.NewReader; _ = http1.Limits{} }\n"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := referenceNotice(context.Background(), write(t, tc.files), refs)
			require.NoError(t, err)
			if tc.want == "" {
				require.Empty(t, got)
				return
			}
			require.Contains(t, got, tc.want)
		})
	}
}

func TestReferenceNoticeUnreadable(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { undefined() }\n"), 0o644))
	_, err := referenceNotice(context.Background(), dir, []string{"http1.ReadRequest("})
	require.Error(t, err, "a package that cannot be read is said so, not taken for one that calls nothing")
}
