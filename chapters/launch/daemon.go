package launch

import (
	"flag"
	"fmt"
	"time"
)

// DaemonConfig is what a front end that hands its requests to daemon processes is told on its command line
// (chapter 5 on), on top of Config. The names are those of the options of mod_wsgi's WSGIDaemonProcess
// directive, which does the same job in Apache.
type DaemonConfig struct {
	// Kind is the daemons' language: "go" (this program, started again as a daemon) or "python" (the
	// course's daemon.py, running the WSGI callable App).
	Kind string
	App  string // with Kind python: the WSGI application, as module:callable
	// PythonPath holds more folders in which to look for App's module (mod_wsgi's python-path).
	PythonPath string
	// Python is the interpreter to run daemon.py with; "" means the first that works (wsgi.Interpreter).
	Python string

	Processes int // daemon processes in the group
	Threads   int // requests each daemon runs at once
	// ListenBacklog is how many connections may wait in the group socket's queue for a daemon thread.
	ListenBacklog int
	// ConnectTimeout bounds how long the front end keeps trying to connect while the queue is full: 503 after.
	ConnectTimeout time.Duration
	// QueueTimeout: a request that waited longer than this for a daemon thread is answered 504, not run.
	QueueTimeout time.Duration
	// RequestTimeout: a request that runs longer is answered 504, and its daemon restarted.
	RequestTimeout time.Duration
	// SocketTimeout bounds each read and write between the front end and a daemon: a daemon that stops
	// talking for this long gets its request answered 504 (or cut, once the response has started).
	SocketTimeout time.Duration
	// DeadlockTimeout: a daemon that sends no heartbeat for this long (stopped, or stuck whole) is killed
	// and replaced.
	DeadlockTimeout time.Duration
	// ShutdownTimeout: on SIGTERM, and for a daemon told to stop, requests in flight get this long.
	ShutdownTimeout time.Duration
	// MaximumRequests: a daemon is replaced after this many requests (0: never).
	MaximumRequests int
}

// RegisterDaemon adds the flags of a front end with daemon processes to fs. The timeouts' defaults are those
// that mod_wsgi-express writes into its configuration of WSGIDaemonProcess (connect-timeout=15,
// queue-timeout=45, request-timeout=60, socket-timeout=60, deadlock-timeout=60, shutdown-timeout=5), the
// backlog mod_wsgi's own (listen-backlog=100), for two processes of four threads.
func RegisterDaemon(fs *flag.FlagSet) *DaemonConfig {
	c := &DaemonConfig{}
	fs.StringVar(&c.Kind, "daemon", "go", "the daemons: go (this program) or python (daemon.py running -app)")
	fs.StringVar(&c.App, "app", "testapp:app", "with -daemon python: the WSGI application, as `module:callable`")
	fs.StringVar(&c.PythonPath, "python-path", "", "with -daemon python: more `folders` (separated by :) in which to find the app's module")
	fs.StringVar(&c.Python, "python", "", "with -daemon python: the Python interpreter (default: $PYTHON, /usr/bin/python3, or python3 on PATH)")
	fs.IntVar(&c.Processes, "processes", 2, "daemon processes")
	fs.IntVar(&c.Threads, "threads", 4, "requests each daemon runs at once")
	fs.IntVar(&c.ListenBacklog, "listen-backlog", 100, "connections that may wait in the daemons' socket for a free thread")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 15*time.Second, "while the daemons' queue is full, keep trying to connect this long; then 503")
	fs.DurationVar(&c.QueueTimeout, "queue-timeout", 45*time.Second, "a request that waited longer for a daemon thread is answered 504, not run (0: never)")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", 60*time.Second, "a request that runs longer is answered 504 and its daemon restarted (0: never)")
	fs.DurationVar(&c.SocketTimeout, "socket-timeout", 60*time.Second, "a daemon silent this long, reading or writing, gets its request answered 504 (0: never)")
	fs.DurationVar(&c.DeadlockTimeout, "deadlock-timeout", 60*time.Second, "a daemon that sends no heartbeat this long is killed and replaced (0: never)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 5*time.Second, "requests in flight get this long when the front end or a daemon stops")
	fs.IntVar(&c.MaximumRequests, "maximum-requests", 0, "a daemon is replaced after this many requests (0: never)")
	return c
}

// Check reports the first setting that cannot work.
func (c *DaemonConfig) Check() error {
	switch {
	case c.Kind != "go" && c.Kind != "python":
		return fmt.Errorf("-daemon %q: want go or python", c.Kind)
	case c.Processes < 1 || c.Threads < 1:
		return fmt.Errorf("-processes %d -threads %d: both must be at least 1", c.Processes, c.Threads)
	case c.ListenBacklog < 0:
		return fmt.Errorf("-listen-backlog %d: it cannot be negative", c.ListenBacklog)
	case c.ConnectTimeout <= 0:
		return fmt.Errorf("-connect-timeout %v: it must be positive", c.ConnectTimeout)
	}
	return nil
}
