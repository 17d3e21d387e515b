package wsgi

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"course/chapters/launch"
)

// files are the Python files of the package, built into every program that imports it, so that a server can
// run the daemon and the test applications wherever it was built (Unpack).
//
//go:embed daemon.py testapp.py flaskapp.py
var files embed.FS

// Unpack writes daemon.py, testapp.py and flaskapp.py into the folder dir, readable by their owner only.
func Unpack(dir string) error {
	entries, err := files.ReadDir(".")
	if err != nil {
		return err
	}
	for _, e := range entries {
		b, err := files.ReadFile(e.Name())
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
			return fmt.Errorf("unpacking the Python daemon: %w", err)
		}
	}
	return nil
}

// Command returns how to start daemon.py as one daemon of the group that dc describes, from the folder dir
// where Unpack put it: the interpreter, its arguments, and what to add to its environment. The daemon is told
// how many processes and threads run the application (so that it tells the application the truth in
// wsgi.multiprocess and wsgi.multithread) and the timeouts that are its to enforce; PYTHONPATH lets it
// import the test applications from dir, and the application from dc.PythonPath.
func Command(dc *launch.DaemonConfig, dir string) (path string, args, env []string, err error) {
	path = dc.Python
	if path == "" {
		if path, err = Interpreter(); err != nil {
			return "", nil, nil, err
		}
	}
	args = []string{filepath.Join(dir, "daemon.py"),
		"--processes", strconv.Itoa(dc.Processes),
		"--threads", strconv.Itoa(dc.Threads),
		"--queue-timeout", seconds(dc.QueueTimeout),
		"--request-timeout", seconds(dc.RequestTimeout),
		"--socket-timeout", seconds(dc.SocketTimeout),
		"--shutdown-timeout", seconds(dc.ShutdownTimeout),
		"--maximum-requests", strconv.Itoa(dc.MaximumRequests),
		dc.App,
	}
	pythonPath := []string{dir}
	if dc.PythonPath != "" {
		pythonPath = append(pythonPath, dc.PythonPath)
	}
	if old := os.Getenv("PYTHONPATH"); old != "" {
		pythonPath = append(pythonPath, old)
	}
	env = []string{"PYTHONPATH=" + strings.Join(pythonPath, ":"), "PYTHONDONTWRITEBYTECODE=1"}
	return path, args, env, nil
}

// seconds writes d as daemon.py's options take it: a number of seconds, 0 for no limit.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'g', -1, 64)
}
