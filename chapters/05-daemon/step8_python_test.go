package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"course/chapters/launch"
	"course/chapters/wsgi"
)

// Step 8: a real WSGI application.

func TestStep8Command(t *testing.T) {
	dc := &launch.DaemonConfig{Python: "/usr/bin/python3", App: "myapp.wsgi:application", PythonPath: "/srv/myapp",
		Processes: 3, Threads: 5, QueueTimeout: 1500 * time.Millisecond, RequestTimeout: time.Minute,
		SocketTimeout: 30 * time.Second, ShutdownTimeout: 5 * time.Second, MaximumRequests: 1000}
	path, args, env, err := pythonCommand(dc, "/tmp/d")
	if err != nil {
		t.Fatalf("pythonCommand: %v", err)
	}
	if path != "/usr/bin/python3" {
		t.Errorf("the program is %q, want -python's /usr/bin/python3", path)
	}
	if len(args) == 0 || args[0] != "/tmp/d/daemon.py" {
		t.Fatalf("the arguments %q must start with the path of daemon.py in the folder given, /tmp/d/daemon.py", args)
	}
	if args[len(args)-1] != dc.App {
		t.Errorf("the last argument is %q, want the application, %q", args[len(args)-1], dc.App)
	}
	for _, opt := range [][2]string{{"--processes", "3"}, {"--threads", "5"}, {"--queue-timeout", "1.5"}, {"--request-timeout", "60"},
		{"--socket-timeout", "30"}, {"--shutdown-timeout", "5"}, {"--maximum-requests", "1000"}} {
		i := slices.Index(args, opt[0])
		if i < 0 || i+1 >= len(args) || args[i+1] != opt[1] {
			t.Errorf("the arguments %q do not say %s %s", args, opt[0], opt[1])
		}
	}
	found := false
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PYTHONPATH="); ok {
			found = true
			if parts := strings.Split(v, ":"); len(parts) < 2 || parts[0] != "/tmp/d" || parts[1] != "/srv/myapp" {
				t.Errorf("PYTHONPATH=%s, want /tmp/d (where the test apps are) then /srv/myapp (-python-path)", v)
			}
		}
	}
	if !found {
		t.Errorf("the environment %q has no PYTHONPATH", env)
	}
}

// TestStep8Real starts this chapter's program with Python daemons and asks who answers, and what the
// application is told.
func TestStep8Real(t *testing.T) {
	if _, err := wsgi.Interpreter(); err != nil {
		t.Skipf("%v: install Python 3 (apt-get install python3)", err)
	}
	srv := startFront(t, "-daemon", "python", "-app", "testapp:app", "-processes", "2", "-threads", "1")
	kids := daemons(t, srv, 2)
	if pid := pidOf(t, srv); !slices.Contains(kids, pid) {
		t.Fatalf("GET /pid was answered by pid %d, not one of the Python daemons %v", pid, kids)
	}
	var env map[string]string
	if err := json.Unmarshal(get(t, srv, "/env").Body, &env); err != nil {
		t.Fatal(err)
	}
	if env["wsgi.multiprocess"] != "true" || env["wsgi.multithread"] != "false" {
		t.Errorf("with -processes 2 -threads 1 the Python app is told wsgi.multiprocess %q and wsgi.multithread %q, want true and false",
			env["wsgi.multiprocess"], env["wsgi.multithread"])
	}
}
