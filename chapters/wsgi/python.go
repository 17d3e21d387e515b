// Package wsgi holds the Python side of the course, which chapter 5 runs behind its front end:
//
//   - testapp.py, the test application as a WSGI application, with the routes of the Go one (package app);
//   - daemon.py, the daemon process that serves any WSGI application over SCGI on T threads, started and kept
//     running by chapter 4's master;
//   - flaskapp.py, a small Flask application, to show that the daemon runs a real framework's application.
//
// They use Python's standard library only (Flask aside). In Go, the package finds a Python interpreter to run
// them with (Interpreter), carries the three files in the program that imports it (Unpack writes them out),
// and builds the command line that starts the daemon as one of a group (Command); its tests start the daemon
// as the master does and check it, and check that the two test applications answer alike.
package wsgi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Interpreter returns the path of a Python 3.8 or newer that can import every module of modules, trying in
// turn the interpreter named by $PYTHON, Debian's /usr/bin/python3 (which sees the packages Debian installs,
// such as python3-flask) and python3 on PATH (which may be another Python, a pyenv or venv one, that does
// not). The error says what each candidate lacked.
func Interpreter(modules ...string) (string, error) {
	check := "import sys; assert sys.version_info >= (3, 8), 'Python ' + sys.version.split()[0] + ' is older than 3.8'"
	for _, m := range modules {
		check += "; import " + m
	}
	candidates := []string{os.Getenv("PYTHON"), "/usr/bin/python3", "python3"}
	var tried []string
	for _, c := range candidates {
		if c == "" {
			continue
		}
		path, err := exec.LookPath(c)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: not found", c))
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, path, "-c", check).CombinedOutput()
		cancel()
		if err == nil {
			return path, nil
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		tried = append(tried, fmt.Sprintf("%s: %s", path, lines[len(lines)-1]))
	}
	what := "Python 3"
	if len(modules) > 0 {
		what = "a Python 3 that can import " + strings.Join(modules, ", ")
	}
	return "", errors.New("no " + what + " found (" + strings.Join(tried, "; ") + ")")
}
