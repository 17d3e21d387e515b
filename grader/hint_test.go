package main

import (
	"bytes"
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
	root := t.TempDir()
	hint := func() (int, string) {
		var b bytes.Buffer
		code := showHint(&b, root, ch)
		return code, b.String()
	}

	code, out := hint()
	require.Equal(t, exitPass, code)
	require.Contains(t, out, "You have not graded chapter 1 yet")
	require.Contains(t, out, ch.Specs[0].Hint)

	third := ch.Specs[2]
	saveReport(root, &spec.Report{Chapter: 1, Score: 3, Total: 41, Results: []spec.Result{
		{ID: ch.Specs[0].ID, Passed: true, Ran: true},
		{ID: ch.Specs[1].ID, Passed: true, Ran: true},
		{ID: third.ID, Passed: false, Ran: true},
	}})
	code, out = hint()
	require.Equal(t, exitPass, code)
	require.Contains(t, out, "at your last grade, 3/41")
	require.Contains(t, out, third.ID+"  "+third.Title)
	require.Contains(t, out, third.Hint)
	require.Contains(t, out, spec.Expand(third.Repro, "127.0.0.1:8080"))

	saveReport(root, &spec.Report{Chapter: 1, Score: 2, Total: 2, NextChapter: 2, Results: []spec.Result{
		{ID: ch.Specs[0].ID, Passed: true, Ran: true},
	}})
	code, out = hint()
	require.Equal(t, exitPass, code)
	require.Contains(t, out, "Every spec of chapter 1 passed")

	saveReport(root, &spec.Report{Chapter: 1, Score: 0, Total: 41, Start: "go run ./chapters/01-blocking -addr {addr}",
		Results: []spec.Result{{ID: ch.Specs[0].ID, Passed: false, Ran: false, Message: "the server exited with status 1"}}})
	code, out = hint()
	require.Equal(t, exitPass, code)
	require.Contains(t, out, "your server did not start")
	require.Contains(t, out, "go run ./chapters/01-blocking -addr 127.0.0.1:8080")
	require.Contains(t, out, "the server exited with status 1")

	saveReport(root, &spec.Report{Chapter: 1, Output: "server.go:3: syntax error"})
	code, out = hint()
	require.Equal(t, exitFail, code)
	require.Contains(t, out, "did not build")
}

func TestReferenceNotice(t *testing.T) {
	dir := t.TempDir()
	require.Empty(t, referenceNotice(dir, []string{"http1.ReadRequest("}))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "server.go"), []byte("package main\n\nvar _, _ = http1.ReadRequest(br, lim)\n"), 0o644))
	got := referenceNotice(dir, []string{"http1.ReadRequest(", ".ServeConn("})
	require.Contains(t, got, "http1.ReadRequest(")
	require.NotContains(t, got, "ServeConn")
}
