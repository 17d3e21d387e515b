package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"course/chapters/prefork/preforktest"
	"course/harness"
)

// Step 5: workers that cannot boot.

func TestStep5BootFailures(t *testing.T) { preforktest.BootFailures(t, yours) }

func TestStep5Real(t *testing.T) {
	// A deployment breaks the app's settings, and both workers die: the new ones cannot boot.
	settings := filepath.Join(t.TempDir(), "settings")
	srv := startMaster(t, "-workers", "2", "-settings", settings)
	kids := workers(t, srv, 2, "-workers 2")
	if err := os.WriteFile(settings, []byte("this is not a setting\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, pid := range kids {
		harness.SignalPid(pid, syscall.SIGKILL)
	}
	how := exitWithin(t, srv, wait)
	if how == "exit status 0" {
		t.Errorf("the master exited with status 0 though no worker could boot: exit with an error status")
	}
	if out := strings.ToLower(srv.Output()); !strings.Contains(out, "boot") {
		t.Errorf("the master's output must say that the workers fail to boot:\n%s", srv.Output())
	}
}
