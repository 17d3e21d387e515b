package goforpython

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestRaceDetector runs the README's racy counter with the race detector, which must report the race and make
// the program fail.
func TestRaceDetector(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program with the race detector")
	}
	out, err := exec.Command("go", "run", "-race", "./race").CombinedOutput()
	var exit *exec.ExitError
	if !strings.Contains(string(out), "WARNING: DATA RACE") || !errors.As(err, &exit) {
		t.Fatalf("go run -race ./race: %v; want a data race reported and a failed exit; it printed:\n%s", err, out)
	}
}
