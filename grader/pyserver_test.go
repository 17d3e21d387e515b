package main

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPythonServer grades the Python server of testdata/pyserver, standard library only, as chapter 1: it
// must get full marks and stop gracefully. It proves the contract of grader/README.md: the grader knows a
// server only over the network, whatever its language.
func TestPythonServer(t *testing.T) {
	t.Parallel() // these self-checks mostly wait on servers: they run side by side (make test: -parallel)
	if testing.Short() {
		t.Skip("grades a server")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed (apt-get install python3): the Python server of testdata/pyserver cannot be graded")
	}
	code, rep := gradeJSON(t, "-chapter", "1", "-cmd", "python3 testdata/pyserver/server.py --port {port} {flags}")
	require.Equal(t, exitPass, code, "the Python server must pass every spec of chapter 1:\n%s", describe(rep))
	require.Equal(t, rep.Total, rep.Score)
	require.Empty(t, rep.Notes, "it takes the chapter's flags")
	require.True(t, rep.Shutdown.Graceful, "it stops on SIGTERM: %+v", rep.Shutdown)
}
