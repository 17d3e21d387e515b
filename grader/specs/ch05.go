package specs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"course/grader/spec"
	"course/harness"
	"course/harness/load"
)

// readme5 is the chapter 5 README, to which each of its specs points.
const readme5 = "chapters/05-daemon/README.md"

// flags5 are the chapter 5 server's own flags: two Go daemons of two threads, and timeouts short enough for
// a grade, long enough for a loaded machine.
func flags5() []string {
	return []string{"-daemon", "go", "-processes", "2", "-threads", "2", "-listen-backlog", "16", "-connect-timeout", "2s",
		"-queue-timeout", "3s", "-request-timeout", "4s", "-socket-timeout", "5s", "-deadlock-timeout", "5s", "-shutdown-timeout", "2s"}
}

func chapter5() *Chapter {
	return &Chapter{
		Number: 5,
		Slug:   "05-daemon",
		Title:  "daemon",
		Flags:  append(flags1(), flags5()...),
		// The Go daemons are this program too: a data race in the front end or in a daemon is reported in the
		// output, which fails the run.
		Race: true,
		// The reference answers to chapter 5's steps: package scgi's front end half, package daemon (Listen,
		// Dial, Stamp, QueueTime, Hop.App, Server.Serve), wsgi.Command.
		Reference: []string{"scgi.WriteRequest(", "scgi.ReadResponse(", "daemon.Listen(", "daemon.Dial(", "daemon.Stamp(",
			"daemon.QueueTime(", ".App(", ".Serve(", "wsgi.Command("},
		Specs: append(correctness1(nil), daemon5()...),
	}
}

// pyFlags are the flags of a front end with Python daemons running app.
func pyFlags(app string, more ...string) []string {
	return append([]string{"-daemon", "python", "-app", app}, more...)
}

// daemon5 returns the specs of chapter 5's own lesson: the hop, the daemon group and its queue, the timeouts
// of daemon mode, the daemons' restarts, what the app is told; for Go daemons, then for Python ones.
func daemon5() []spec.Spec {
	return []spec.Spec{
		{
			ID: "5.1", Title: "the app runs in the daemons, behind one private socket", Points: 3, Timeout: 10 * time.Second,
			Flags: []string{"-processes", "3", "-threads", "1"},
			Why:   readme5 + "#the-hop-step-by-step",
			Hint:  "the front end runs no application: it starts -processes daemon processes, which share one UNIX socket, and hands each request to them over it.",
			Repro: "ps f -o pid,ppid,args --ppid $(pgrep -n -f -- '-addr {addr}'); ss -xlp | grep daemon",
			Cases: map[string]spec.Case{
				"the process tree": {
					Hint:  "the front end starts -processes daemons as its own children (chapter 4's master does it) and keeps them running: with -processes 3, three children.",
					Repro: "ps f -o pid,ppid,args --ppid $(pgrep -n -f -- '-addr {addr}')   # with -processes 3: three daemons",
				},
				"the daemons answer, not the front end": {
					Hint:  "every request must cross the hop: GET /pid is answered with the pid of a daemon, never the front end's own. The front end's application is the hand-off, not the test app.",
					Repro: "for i in 1 2 3 4; do curl -s http://{addr}/pid; echo; done; pgrep -n -f -- '-addr {addr}'",
				},
				"one socket, held by every daemon": {
					Hint:  "make one listening UNIX socket, in the front end, and pass it to every daemon (at fd 3): its queue is the group's, and any daemon may take a request from it. The daemons must not hold the front end's TCP socket: they talk to the front end only.",
					Repro: "ss -xlp | grep $(pgrep -n -f -- '-addr {addr}')",
				},
				"a private socket": {
					Hint:  "whoever can connect to the daemons' socket can send them any request with any CGI variable (REMOTE_USER, say): give it mode 0600, in a folder of mode 0700 (os.MkdirTemp makes one).",
					Repro: "ls -l $(ss -xlp | grep $(pgrep -n -f -- '-addr {addr}') | grep -o '/[^ ]*sock')",
				},
			},
			Check: checkHop,
		},
		{
			ID: "5.2", Title: "-processes 1 -threads 4: what the app is told, what it shares", Points: 2,
			Flags: []string{"-processes", "1", "-threads", "4"},
			Why:   readme5 + "#what-the-app-is-told",
			Hint:  "one daemon process running four requests at once: wsgi.multithread is true, wsgi.multiprocess false, and its threads share the app's data.",
			Repro: "curl -s http://{addr}/env | grep -o '\"wsgi.multi[a-z]*\":\"[a-z]*\"'   # with -processes 1 -threads 4",
			Cases: map[string]spec.Case{
				"wsgi.* flags": {Hint: "-threads 4: another thread of the daemon may run the app at the same time, so wsgi.multithread is true; -processes 1: no other process runs it, so wsgi.multiprocess is false (mod_wsgi's rule)."},
				"one counter for the threads": {
					Hint:  "with -processes 1 there is one daemon: its -threads share one application, and one counter. Start -processes daemons of -threads threads each, not one daemon per thread.",
					Repro: "for c in 1 2 3 4; do (for i in $(seq 100); do curl -s -o /dev/null http://{addr}/counter; done) & done; wait; curl -s http://{addr}/counter   # 401",
				},
			},
			Check: checkThreads5,
		},
		{
			ID: "5.3", Title: "-processes 2 -threads 1: each daemon has its own data", Points: 3, Timeout: 15 * time.Second,
			Flags: []string{"-processes", "2", "-threads", "1"},
			Why:   readme5 + "#what-the-app-is-told",
			Hint:  "two daemon processes of one thread each: wsgi.multiprocess is true, wsgi.multithread false; each process has its own memory, so its own counter.",
			Repro: "curl -s http://{addr}/env | grep -o '\"wsgi.multi[a-z]*\":\"[a-z]*\"'   # with -processes 2 -threads 1",
			Cases: map[string]spec.Case{
				"wsgi.* flags": {Hint: "-processes 2: another process may run the app at the same time, so wsgi.multiprocess is true; -threads 1: a daemon runs one request at a time, so wsgi.multithread is false."},
				"a busy daemon takes no request ahead": {
					Hint:  "a daemon thread takes a connection from the socket only when it is free: a daemon that accepts while its threads are busy holds the request behind a slow one, while another daemon is idle. The socket's queue must stay the queue.",
					Repro: "curl -s 'http://{addr}/sleep?ms=1500' & sleep 0.2; for i in $(seq 10); do curl -s -o /dev/null -w '%{time_total}\\n' http://{addr}/hello; done",
				},
				"each daemon counts its own": {
					Hint:  "each daemon is a process with its own memory: the requests one daemon serves while the other is busy count on its counter only (1, 2, 3, ...), and the other daemon's counter starts from its own.",
					Repro: "curl -s 'http://{addr}/sleep?ms=2000' & sleep 0.2; for i in 1 2 3; do curl -s http://{addr}/counter; done; curl -s 'http://{addr}/sleep?ms=3000' & sleep 2; for i in 1 2 3; do curl -s http://{addr}/counter; done",
				},
			},
			Check: checkProcesses5,
		},
		{
			ID: "5.4", Title: "busy daemons: requests wait in the queue; a full queue, 503", Points: 3, Timeout: 15 * time.Second,
			// The requests wait in the queue for 2.5 s: the chapter's queue and request timeouts are lifted.
			Flags: []string{"-processes", "1", "-threads", "2", "-listen-backlog", "2", "-connect-timeout", "1s",
				"-queue-timeout", "10s", "-request-timeout", "10s"},
			Why:   readme5 + "#step-6-the-queue-and-its-timeouts",
			Hint:  "while every daemon thread is busy, new requests wait in the socket's queue (-listen-backlog) and are served in turn; when the queue is full too, the front end tries to connect again and again for -connect-timeout, then answers 503.",
			Repro: "for i in 1 2; do curl -s -o /dev/null 'http://{addr}/sleep?ms=2500' & done; sleep 0.2; for i in 1 2 3; do curl -s -o /dev/null -w '%{http_code} %{time_total}\\n' 'http://{addr}/sleep?ms=100' & done; sleep 0.2; curl -s -w ' %{time_total}\\n' http://{addr}/hello   # with -processes 1 -threads 2 -listen-backlog 2 -connect-timeout 1s",
			Cases: map[string]spec.Case{
				"requests wait in the queue, served in turn": {Hint: "a daemon takes a connection only when one of its -threads is free: the others wait in the socket's queue, and are answered 200 once a thread frees up. A daemon that accepts more than -threads at once runs them all, and the queue never fills."},
				"a full queue: 503 after -connect-timeout":   {Hint: "listen with the backlog -listen-backlog asks for (net.Listen asks for the kernel's largest): once it is full, a connect fails at once (EAGAIN); try again until -connect-timeout has passed, then answer 503, without waiting for a thread to free up."},
				"not at once": {Hint: "a full queue is a moment, not a verdict: keep trying to connect (a few ms apart, then up to 100 ms) until -connect-timeout has passed; only then answer 503."},
			},
			Check: checkQueue5,
		},
		{
			ID: "5.5", Title: "-queue-timeout: 504, and the app does not run", Points: 3, Timeout: 10 * time.Second,
			Flags: []string{"-processes", "1", "-threads", "1", "-queue-timeout", "500ms"},
			Why:   readme5 + "#step-6-the-queue-and-its-timeouts",
			Hint:  "the front end stamps each request with the time it starts to wait (X-Request-Start: t=<microseconds>); a daemon thread that picks up a request that waited longer than -queue-timeout answers 504 and does not run the app.",
			Repro: "curl -s -o /dev/null 'http://{addr}/sleep?ms=1500' & sleep 0.1; curl -s -i http://{addr}/counter; curl -s http://{addr}/counter   # with -processes 1 -threads 1 -queue-timeout 500ms",
			Cases: map[string]spec.Case{
				"504 after waiting past -queue-timeout": {Hint: "stamp every request (HTTP_X_REQUEST_START = t=<microseconds since the epoch>) before connecting to the daemons; in the daemon, once a thread has read a request, compare the stamp with the clock: past -queue-timeout, answer 504."},
				"the app did not run":                   {Hint: "a request answered 504 for its wait must not reach the app: check the wait before the app is called, not after (its counter moved)."},
				"the client cannot forge its start": {
					Hint:  "the stamp is the front end's: replace any X-Request-Start the client sent, or a client could have its request refused (t=1) or jump the queue timeout.",
					Repro: "curl -s -i -H 'X-Request-Start: t=1' http://{addr}/hello",
				},
			},
			Check: checkQueueTimeout5,
		},
		{
			ID: "5.6", Title: "-request-timeout: 504, the daemon restarted, the others finish", Points: 3, Timeout: 20 * time.Second,
			// -shutdown-timeout is long, so that a daemon that waits for its stuck request before it restarts is told from
			// one that does not.
			// -queue-timeout is long too: a request waits in the queue while the daemon restarts.
			Flags: []string{"-processes", "1", "-threads", "2", "-request-timeout", "1s", "-socket-timeout", "10s", "-shutdown-timeout", "5s",
				"-queue-timeout", "10s"},
			Why:   readme5 + "#step-7-requests-that-never-end",
			Hint:  "a daemon whose request runs past -request-timeout answers it 504 at once, stops taking requests, lets its other requests finish, and exits; the master starts another in its place.",
			Repro: "curl -s -i 'http://{addr}/sleep?ms=20000' & sleep 0.5; curl -s 'http://{addr}/sleep?ms=700'; wait   # with -request-timeout 1s: 504, then slept 700 ms",
			Cases: map[string]spec.Case{
				"a sleeping request":                            {Hint: "answer 504 when the request has run -request-timeout (time.AfterFunc), while the app still runs; then restart the daemon: a goroutine cannot be stopped, a process can."},
				"a sleeping request/the other request finishes": {Hint: "the daemon restarts gracefully: it stops accepting and lets its other requests finish (not waiting for the one that timed out, which may never end), then exits."},
				"a sleeping request/the daemon restarts":        {Hint: "after a request timeout the daemon must exit (once its other requests are done) for the master to start a fresh one: the stuck goroutine holds a thread for ever otherwise."},
				"a sleeping request/a new daemon soon": {
					Hint:  "a daemon restarting after a request timeout waits for its other requests, not for the one that timed out, which may never end: count it out of the requests in flight when its 504 is sent, or the group serves nobody for -shutdown-timeout.",
					Repro: "curl -s -o /dev/null 'http://{addr}/sleep?ms=20000' & sleep 0.5; curl -s -o /dev/null 'http://{addr}/sleep?ms=700'; time curl -s http://{addr}/hello   # with -processes 1 -request-timeout 1s -shutdown-timeout 5s: well under 5 s",
				},
				"a CPU loop": {
					Hint:  "a request that burns the CPU past -request-timeout gets 504 too: the timer that answers it runs on a goroutine of its own.",
					Repro: "curl -s -i 'http://{addr}/cpu?ms=30000'   # with -request-timeout 1s: 504 after about 1s",
				},
			},
			Check: checkRequestTimeout5,
		},
		{
			ID: "5.7", Title: "a daemon killed or crashed: 502, another within 1s", Points: 3, Timeout: 15 * time.Second,
			// The longer request runs 4 s: the chapter's request timeout is lifted.
			Flags: []string{"-processes", "2", "-threads", "1", "-request-timeout", "10s"},
			Why:   readme5 + "#when-a-daemon-dies",
			Hint:  "a daemon that dies mid-request closes its connection without an answer: the front end answers 502 (Bad Gateway), at once; the master starts another daemon; the other daemon serves on.",
			Repro: "curl -s -i http://{addr}/crash; sleep 0.5; curl -s http://{addr}/pid",
			Cases: map[string]spec.Case{
				"kill -9": {
					Hint:  "when a daemon is killed, the request it was serving gets 502 at once (its connection closed before a response), the other request goes on, and a new daemon serves within a second.",
					Repro: "curl -s -i 'http://{addr}/sleep?ms=5000' & sleep 0.3; kill -9 $(ps --ppid $(pgrep -n -f -- '-addr {addr}') -o pid= | head -1); wait",
				},
				"GET /crash": {Hint: "a daemon that exits mid-request (GET /crash) closes its connection without an answer: 502, not a hang nor an empty 200; and a new daemon serves within a second."},
			},
			Check: checkDaemonDeath5(time.Second),
		},
		{
			ID: "5.8", Title: "a daemon that stops talking: 504 after -socket-timeout", Points: 2, Timeout: 15 * time.Second,
			Flags: []string{"-processes", "1", "-threads", "1", "-socket-timeout", "1s", "-deadlock-timeout", "20s"},
			Why:   readme5 + "#step-6-the-queue-and-its-timeouts",
			Hint:  "bound each read and write on the connection to a daemon by -socket-timeout: a daemon that stops (SIGSTOP, a lost machine) gets its request answered 504, or cut short once the response has started.",
			Repro: "curl -s -i 'http://{addr}/sleep?ms=300' & sleep 0.1; kill -STOP $(ps --ppid $(pgrep -n -f -- '-addr {addr}') -o pid=); wait; kill -CONT $(ps --ppid $(pgrep -n -f -- '-addr {addr}') -o pid=)",
			Cases: map[string]spec.Case{
				"a daemon that keeps talking": {
					Hint:  "-socket-timeout bounds each read and each write on the hop, not the whole answer: set the deadline again before each one, so that a daemon that keeps sending (a long stream) is never cut off, only one that falls silent.",
					Repro: "curl -sN 'http://{addr}/stream?chunks=8&bytes=10&ms=250'   # with -socket-timeout 1s: all 80 bytes, over 2 s",
				},
				"before the response": {Hint: "set a deadline -socket-timeout away before each read of the daemon's answer: a head that does not come in time is a 504 (Gateway Timeout)."},
				"in the middle of the body": {
					Hint:  "a body that stops coming for -socket-timeout is an error of the body's next: the gateway then cuts the response short (the client sees an incomplete body), rather than wait for ever.",
					Repro: "curl -s -N 'http://{addr}/stream?chunks=20&bytes=10&ms=200' & sleep 0.5; kill -STOP $(ps --ppid $(pgrep -n -f -- '-addr {addr}') -o pid=); wait",
				},
			},
			Check: checkSilentDaemon5,
		},
		{
			ID: "5.9", Title: "the client goes away: close() is called, the thread freed", Points: 3, Timeout: 10 * time.Second,
			Flags: []string{"-processes", "1", "-threads", "1", "-socket-timeout", "10s"},
			Why:   readme5 + "#when-the-client-goes-away",
			Hint:  "when the client goes away mid-response, the front end closes its connection to the daemon; the daemon's next write fails, it calls close() on the app's body (the gateway does), and its thread is free for the next request.",
			Repro: "curl -s -N --max-time 0.3 'http://{addr}/stream?chunks=1000&bytes=1000&ms=5' >/dev/null; curl -s http://{addr}/stats",
			Check: checkClientGone5,
		},
		{
			ID: "5.10", Title: "-maximum-requests and SIGHUP: new daemons, zero failed", Points: 3, Timeout: 25 * time.Second,
			Flags: []string{"-processes", "2", "-threads", "2", "-maximum-requests", "200"},
			Why:   readme5 + "#restarts",
			Hint:  "a daemon that reaches -maximum-requests stops accepting, finishes its requests and exits; on SIGHUP the master starts new daemons and stops the old ones once the new are ready. The socket's queue holds the requests meanwhile: none fails.",
			Repro: "go run ./harness/cmd/load -c 4 -n 1200 -H 'Connection: close' http://{addr}/hello   # with -maximum-requests 200: no error",
			Cases: map[string]spec.Case{
				"-maximum-requests": {Hint: "the daemon that served its -maximum-requests-th request must answer it and the others in flight, then exit (status 0): the master replaces it, and the requests that arrive meanwhile wait in the socket's queue."},
				"SIGHUP": {
					Hint:  "pass SIGHUP to the master (it starts new daemons, then stops the old ones once the new are ready); the old ones finish their requests before they exit.",
					Repro: "go run ./harness/cmd/load -c 8 -d 3s http://{addr}/hello & sleep 1; kill -HUP $(pgrep -n -f -- '-addr {addr}'); wait",
				},
			},
			Check: checkRestarts5,
		},
		// Two requests more than the daemons' threads: they wait in the daemons' queue when SIGTERM comes, and
		// only daemons still there can answer them.
		// The request past -shutdown-timeout must still run when the front end gives up on it: the chapter's
		// -request-timeout and -socket-timeout would end it with a 504 first.
		shutdownSpec(stopPlan{id: "5.11", why: readme5 + "#stopping", idle: 3, inFlight: 2*2 + 2, shutdownTimeout: 2 * time.Second,
			flags: []string{"-request-timeout", "30s", "-socket-timeout", "30s"}}),
		{
			ID: "5.12", Title: "Python daemons: the hop, the wsgi.* flags, PEP 3333's validator", Points: 3, Timeout: 20 * time.Second,
			Flags: pyFlags("testapp:validated", "-processes", "2", "-threads", "2"),
			Why:   readme5 + "#step-8-a-real-wsgi-application",
			Hint:  "with -daemon python the front end starts daemon.py -processes times, telling it --processes and --threads; the test app, wrapped in wsgiref.validate, checks every environ the front end sends.",
			Repro: "curl -s http://{addr}/env   # with -daemon python -app testapp:validated -processes 2 -threads 2",
			Cases: map[string]spec.Case{
				"Python answers": {
					Hint:  "start the Python daemons as the master's workers: the interpreter, daemon.py's path, its options, then the app; PYTHONPATH must let it import the app. Their output is the front end's: look there for a traceback.",
					Repro: "ps f -o pid,ppid,args --ppid $(pgrep -n -f -- '-addr {addr}'); curl -s http://{addr}/pid",
				},
				"what the app is told": {Hint: "tell daemon.py how many processes and threads run the app (--processes, --threads): it sets wsgi.multiprocess and wsgi.multithread from them, and cannot guess."},
				"GET /hello":           {},
				"bodies both ways":     {Hint: "the request body crosses the hop after the variables (its length in CONTENT_LENGTH, counted first for a chunked body); the response body comes back as the daemon sends it."},
				"a streamed body":      {Hint: "pass on each chunk the daemon sends as it comes: a Python daemon sends a body without a length, which the front end sends chunked to an HTTP/1.1 client."},
				"the environ":          {},
				"PEP 3333's validator": {Hint: "wsgiref.validate found an environ that breaks PEP 3333 (its message is in the server's output): the front end must send REQUEST_METHOD, SCRIPT_NAME, PATH_INFO, QUERY_STRING, SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL, CONTENT_TYPE and CONTENT_LENGTH as chapter 1's gateway builds them."},
			},
			Check: checkPython5,
		},
		{
			ID: "5.13", Title: "Python daemons: queue and request timeouts", Points: 3, Timeout: 20 * time.Second,
			Flags: pyFlags("testapp:app", "-processes", "1", "-threads", "2", "-queue-timeout", "300ms", "-request-timeout", "2s",
				"-socket-timeout", "10s", "-shutdown-timeout", "3s"),
			Why:   readme5 + "#step-8-a-real-wsgi-application",
			Hint:  "pass the timeouts that are a daemon's to enforce to daemon.py: --queue-timeout, --request-timeout, --shutdown-timeout (in seconds).",
			Repro: "ps -o args --ppid $(pgrep -n -f -- '-addr {addr}')   # daemon.py's options",
			Cases: map[string]spec.Case{
				"-queue-timeout": {
					Hint:  "pass -queue-timeout to daemon.py (--queue-timeout, in seconds), and stamp each request (X-Request-Start) as for Go daemons: a request that waited longer gets 504, the app not run.",
					Repro: "for i in 1 2; do curl -s -o /dev/null 'http://{addr}/sleep?ms=900' & done; sleep 0.1; curl -s -i http://{addr}/counter",
				},
				"-request-timeout": {
					Hint:  "pass -request-timeout to daemon.py (--request-timeout, in seconds): a request that runs longer gets 504, and the daemon restarts once its other requests are done.",
					Repro: "curl -s -i 'http://{addr}/sleep?ms=20000'   # with -request-timeout 2s: 504 after about 2s",
				},
				"-request-timeout/the other request finishes": {Hint: "pass -shutdown-timeout to daemon.py (--shutdown-timeout): it is how long a restarting daemon lets its other requests finish."},
				"-request-timeout/the daemon restarts":        {Hint: "daemon.py exits after a request timeout (with --request-timeout); the master must start another."},
			},
			Check: checkPythonTimeouts5,
		},
		{
			ID: "5.14", Title: "Python daemons: a crash, a client gone, a reload", Points: 3, Timeout: 20 * time.Second,
			Flags: pyFlags("testapp:app", "-processes", "1", "-threads", "2", "-socket-timeout", "10s"),
			Why:   readme5 + "#step-8-a-real-wsgi-application",
			Hint:  "the front end treats Python daemons as Go ones: 502 for one that dies mid-request, and a new one; the connection closed when the client goes away; SIGHUP passed to the master.",
			Repro: "curl -s -i http://{addr}/crash; sleep 1; curl -s http://{addr}/pid",
			Cases: map[string]spec.Case{
				"GET /crash": {
					Hint:  "a Python daemon that exits mid-request (GET /crash calls os._exit) closes its connection without an answer: 502, and the master starts another (a Python daemon takes a moment to import its app).",
					Repro: "curl -s -i http://{addr}/crash; sleep 1; curl -s http://{addr}/pid",
				},
				"the client goes away": {
					Hint:  "close the connection to the daemon when the client goes away: daemon.py's next write fails, and wsgiref calls close() on the app's iterable (PEP 3333), which the app's gauge counts.",
					Repro: "curl -s -N --max-time 0.3 'http://{addr}/stream?chunks=1000&bytes=1000&ms=5' >/dev/null; curl -s http://{addr}/stats",
				},
				"SIGHUP under load": {
					Hint:  "on SIGHUP new Python daemons start, and the old ones stop once the new have said they are ready (daemon.py writes R after importing the app): no request fails.",
					Repro: "go run ./harness/cmd/load -c 4 -d 3s http://{addr}/hello & sleep 1; kill -HUP $(pgrep -n -f -- '-addr {addr}'); wait",
				},
			},
			Check: checkPythonLife5,
		},
		{
			ID: "5.15", Title: "a real framework: a Flask app through the front end", Points: 2, Timeout: 20 * time.Second,
			Flags: pyFlags("flaskapp:app", "-processes", "1", "-threads", "2"),
			Why:   readme5 + "#step-8-a-real-wsgi-application",
			Hint:  "the daemon runs any WSGI callable: -app flaskapp:app runs the Flask app of chapters/wsgi/flaskapp.py (Debian's python3-flask, with Debian's /usr/bin/python3). If the daemons cannot import flask, the server's output says so.",
			Repro: "curl -s http://{addr}/hello/grader; curl -s -i http://{addr}/old   # with -daemon python -app flaskapp:app",
			Check: checkFlask5,
		},
	}
}

// reply is the outcome of one request on a connection of its own.
type reply struct {
	r    *harness.Response
	err  error
	took time.Duration // from the send to the response, or the error
}

// describe says what came back: "504 Gateway Timeout after 1.002s", or the error.
func (a reply) describe() string {
	if a.err != nil {
		return fmt.Sprintf("%s after %v", harness.DescribeNetError(a.err), a.took.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s after %v", status(a.r), a.took.Round(time.Millisecond))
}

// is reports whether the reply is a response with status code.
func (a reply) is(code int) bool { return a.err == nil && a.r.Status == code }

// ask sends GET target on a new connection, closed after, and waits at most wait for the answer. It may run
// on a goroutine of its own: it reports nothing itself.
func ask(t *spec.T, target string, wait time.Duration, headers ...string) reply {
	c, err := harness.Dial(t.Addr(), spec.DialTimeout)
	if err != nil {
		return reply{err: err}
	}
	t.Track(c)
	defer c.Close()
	start := time.Now()
	if err := c.SendString(get(target, append(headers, "Connection: close")...)); err != nil {
		return reply{err: err, took: time.Since(start)}
	}
	r, err := c.ReadResponse(wait, false)
	return reply{r: r, err: err, took: time.Since(start)}
}

// askLater is ask on a goroutine of its own: the channel yields the reply.
func askLater(t *spec.T, target string, wait time.Duration) <-chan reply {
	out := make(chan reply, 1)
	go func() { out <- ask(t, target, wait) }()
	return out
}

// daemonsOf waits up to 3 s until the front end has n daemons, and returns them.
func daemonsOf(t *spec.T, n int, while string) []int { return children(t, n, 3*time.Second, while) }

// replaced waits up to d until the front end has n daemons, none of them among old, and returns them.
func replaced(t *spec.T, old []int, n int, d time.Duration, what string) []int {
	var kids []int
	if waitFor(d, func() bool {
		kids = harness.Children(t.Server().Pid())
		return len(kids) == n && !slices.ContainsFunc(kids, func(p int) bool { return slices.Contains(old, p) })
	}) {
		return kids
	}
	t.Fatalf("%s: the front end's daemons are %v %v later, were %v: want %d, all new", what, kids, d, old, n)
	return nil
}

// unixListener is a listening UNIX socket: its inode, and its path ("" when it has none, "@..." when it is
// abstract).
type unixListener struct {
	inode uint64
	path  string
}

// unixListeners returns the listening UNIX sockets that process pid holds, read in /proc.
func unixListeners(pid int) ([]unixListener, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/unix", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	all := map[uint64]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Num RefCount Protocol Flags Type St Inode Path: Flags 00010000 is __SO_ACCEPTCON, listening.
		fields := strings.Fields(sc.Text())
		if len(fields) < 7 {
			continue
		}
		flags, err := strconv.ParseUint(fields[3], 16, 32)
		inode, err2 := strconv.ParseUint(fields[6], 10, 64)
		if err != nil || err2 != nil || flags&0x10000 == 0 {
			continue
		}
		all[inode] = ""
		if len(fields) > 7 {
			all[inode] = fields[7]
		}
	}
	var held []unixListener
	for inode, path := range all {
		if len(harness.SocketHolders(inode, []int{pid})) > 0 {
			held = append(held, unixListener{inode, path})
		}
	}
	return held, nil
}

// groupSocket returns the one listening UNIX socket that every daemon of kids holds.
func groupSocket(t *spec.T, kids []int) unixListener {
	var shared []unixListener
	for i, pid := range kids {
		socks, err := unixListeners(pid)
		if err != nil {
			t.Fatalf("reading the sockets of daemon %d: %v", pid, err)
		}
		if len(socks) != 1 {
			t.Fatalf("daemon %d holds %d listening UNIX sockets %v, want exactly one: the group's, inherited from the front end", pid, len(socks), socks)
		}
		if i > 0 && socks[0].inode != shared[0].inode {
			t.Fatalf("daemons %d and %d listen on different sockets (%v and %v): the daemons of a group share one socket, "+
				"whose queue any of them may take a request from", kids[0], pid, shared[0], socks[0])
		}
		shared = socks
	}
	return shared[0]
}

func checkHop(t *spec.T) {
	const n = 3 // the spec's -processes
	front := t.Server().Pid()
	var kids []int
	t.Run("the process tree", func(t *spec.T) { kids = daemonsOf(t, n, "with -processes 3") })
	if kids == nil {
		return
	}
	t.Run("the daemons answer, not the front end", func(t *spec.T) {
		for range 3 * n {
			pid := pidOf(t, t.Dial())
			switch {
			case pid == front:
				t.Fatalf("the front end (pid %d) answered GET /pid: it must not run the app, but hand each request to a daemon", pid)
			case !slices.Contains(kids, pid):
				t.Fatalf("GET /pid was answered by pid %d, which is not one of the front end's daemons %v", pid, kids)
			}
		}
	})
	var sock unixListener
	t.Run("one socket, held by every daemon", func(t *spec.T) {
		sock = groupSocket(t, kids)
		if len(harness.SocketHolders(sock.inode, []int{front})) == 0 {
			t.Errorf("the front end (pid %d) holds no descriptor of the daemons' socket %s: it makes the socket and keeps it, "+
				"so that it outlives every daemon", front, sock.path)
		}
		if inodes, err := harness.ListeningSockets(t.Server().Port()); err == nil && len(inodes) > 0 {
			if h := harness.SocketHolders(inodes[0], kids); len(h) > 0 {
				t.Errorf("daemons %v hold the front end's TCP listening socket: a daemon talks to the front end only, "+
					"over the UNIX socket (start them with that socket only)", mapsKeys(h))
			}
		}
	})
	if sock.inode == 0 {
		return
	}
	t.Run("a private socket", func(t *spec.T) {
		if !strings.HasPrefix(sock.path, "/") {
			t.Fatalf("the daemons' socket is %q, not a file: an abstract socket (or one without a path) can be reached by any "+
				"process on the machine; bind it to a path in a folder of the front end's own", sock.path)
		}
		fi, err := os.Stat(sock.path)
		if err != nil {
			t.Fatalf("the daemons' socket %s: %v", sock.path, err)
		}
		dir, err := os.Stat(dirOf(sock.path))
		if err != nil {
			t.Fatalf("the folder of the daemons' socket: %v", err)
		}
		if fi.Mode().Perm()&0o077 != 0 && dir.Mode().Perm()&0o077 != 0 {
			t.Errorf("the daemons' socket %s has mode %v, in a folder of mode %v: another user of the machine could connect to "+
				"it and send the daemons any request; give it mode 0600 (or put it in a folder of mode 0700)", sock.path, fi.Mode().Perm(), dir.Mode().Perm())
		}
	})
}

// dirOf returns the folder of path.
func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		return path[:i]
	}
	return "/"
}

// mapsKeys returns the keys of m, sorted.
func mapsKeys(m map[int][]int) []int { return slices.Sorted(maps.Keys(m)) }

func checkThreads5(t *spec.T) {
	t.Run("wsgi.* flags", checkMultiFlags(map[string]string{"wsgi.multiprocess": "false", "wsgi.multithread": "true"}))
	t.Run("one counter for the threads", func(t *spec.T) {
		const conns, each = 4, 100
		cs := make([]*harness.Conn, conns)
		for i := range cs {
			cs[i] = t.Dial()
		}
		before := counterValue(t, cs[0])
		values := make([][]int64, conns)
		var wg sync.WaitGroup
		for i, c := range cs {
			wg.Go(func() {
				for range each {
					if err := c.SendString(get("/counter")); err != nil {
						return
					}
					r, err := c.ReadResponse(answerWait, false)
					if err != nil || r.Status != 200 {
						return
					}
					v, _ := strconv.ParseInt(strings.TrimSpace(string(r.Body)), 10, 64)
					values[i] = append(values[i], v)
				}
			})
		}
		wg.Wait()
		after := counterValue(t, cs[0])
		all := slices.Concat(values...)
		t.Note(fmt.Sprintf("%d connections counted %d requests at once: the counter went from %d to %d", conns, len(all), before, after))
		if len(all) != conns*each {
			t.Fatalf("%d of %d GET /counter were answered 200", len(all), conns*each)
		}
		if after != before+conns*each+1 {
			t.Errorf("%d GET /counter at once went to one daemon of 4 threads, but its counter went from %d to %d: up by %d, not %d. "+
				"With -processes 1 the threads of the one daemon share the app", conns*each, before, after, after-before-1, conns*each)
		}
	})
}

func checkProcesses5(t *spec.T) {
	t.Run("wsgi.* flags", checkMultiFlags(map[string]string{"wsgi.multiprocess": "true", "wsgi.multithread": "false"}))
	kids := daemonsOf(t, 2, "with -processes 2")
	t.Run("a busy daemon takes no request ahead", func(t *spec.T) {
		const hold = 1500 * time.Millisecond
		busy := askLater(t, fmt.Sprintf("/sleep?ms=%d", hold.Milliseconds()), 5*time.Second)
		time.Sleep(200 * time.Millisecond)
		for i := range 10 {
			a := ask(t, "/hello", 5*time.Second)
			if !a.is(200) {
				t.Fatalf("GET /hello %d of 10, while one daemon serves a request of %v: %s, want 200", i+1, hold, a.describe())
			}
			if a.took > hold/2 {
				t.Fatalf("GET /hello %d of 10 took %v while one daemon served a request of %v and the other was free: the busy daemon "+
					"had taken it ahead of its thread. Take a connection only when a thread is free to serve it", i+1, a.took.Round(time.Millisecond), hold)
			}
		}
		if a := <-busy; !a.is(200) {
			t.Errorf("the request of %v: %s, want 200", hold, a.describe())
		}
	})
	t.Run("each daemon counts its own", func(t *spec.T) {
		// Which daemon takes a request is the kernel's choice, so the spec arranges that only one is free at a
		// time: X busy, Y alone counts; then Y busy until after X is free again, and X alone counts. Each must
		// count from its own 1. (The sub-case above checked that a busy daemon takes no request ahead.)
		first := askLater(t, "/sleep?ms=2000", 8*time.Second)
		time.Sleep(200 * time.Millisecond)
		y := countAlone(t, kids, "while the other served GET /sleep?ms=2000")
		second := askLater(t, "/sleep?ms=3000", 10*time.Second)
		if a := <-first; !a.is(200) {
			t.Fatalf("GET /sleep?ms=2000: %s, want 200", a.describe())
		}
		x := countAlone(t, kids, "while the other served GET /sleep?ms=3000")
		if x == y {
			t.Fatalf("daemon %d answered both times, though it was busy with GET /sleep?ms=3000 the second time: a daemon "+
				"must take a request only when a thread is free to serve it", x)
		}
		if a := <-second; !a.is(200) {
			t.Errorf("GET /sleep?ms=3000: %s, want 200", a.describe())
		}
	})
}

// countAlone asks which daemon is free, then GET /counter three times, which that daemon alone can serve; its
// counts must be 1, 2, 3: its own, from its own start. It returns the daemon's pid.
func countAlone(t *spec.T, kids []int, while string) int {
	free := pidOf(t, t.Dial())
	var got []int64
	for range 3 {
		got = append(got, counterValue(t, t.Dial()))
	}
	t.Logf("daemon %d counted %v %s", free, got, while)
	if !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("daemon %d (pid of %v), alone to serve %s, answered GET /counter three times with %v: "+
			"want 1, 2, 3, its own count from its own start: each process has its own memory", free, kids, while, got)
	}
	return free
}

func checkQueue5(t *spec.T) {
	const (
		busy     = 2500 * time.Millisecond // the two threads' requests
		connect  = time.Second             // the spec's -connect-timeout
		queueLen = 3                       // -listen-backlog 2: the kernel queues backlog+1
	)
	daemonsOf(t, 1, "with -processes 1")
	start := time.Now()
	var running, queued, extra []<-chan reply
	for range 2 {
		running = append(running, askLater(t, fmt.Sprintf("/sleep?ms=%d", busy.Milliseconds()), 8*time.Second))
		time.Sleep(80 * time.Millisecond)
	}
	time.Sleep(150 * time.Millisecond)
	for range queueLen {
		queued = append(queued, askLater(t, "/sleep?ms=100", 8*time.Second))
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(150 * time.Millisecond)
	for range 2 {
		extra = append(extra, askLater(t, "/hello", 8*time.Second))
	}
	collect := func(cs []<-chan reply) []reply {
		var out []reply
		for _, c := range cs {
			out = append(out, <-c)
		}
		return out
	}
	extras, waited, ran := collect(extra), collect(queued), collect(running)
	for i, a := range ran {
		if !a.is(200) {
			t.Errorf("request %d of the two that kept the daemon's threads busy: %s, want 200", i+1, a.describe())
		}
	}
	t.Run("requests wait in the queue, served in turn", func(t *spec.T) {
		for i, a := range waited {
			t.Logf("request %d in the queue: %s", i+1, a.describe())
			switch {
			case !a.is(200):
				t.Errorf("request %d of the %d sent while both threads were busy: %s, want 200 once a thread is free: it waits in "+
					"the socket's queue", i+1, queueLen, a.describe())
			case time.Since(start)-a.took < 0 || a.took < busy-time.Second:
				t.Errorf("request %d of the %d sent while both threads were busy (GET /sleep?ms=100) was answered after %v, before "+
					"the threads were free (%v): the daemon ran more than -threads requests at once", i+1, queueLen, a.took.Round(time.Millisecond), busy)
			}
		}
	})
	t.Run("a full queue: 503 after -connect-timeout", func(t *spec.T) {
		for i, a := range extras {
			switch {
			case a.is(503) && a.took <= 2*connect:
			case a.is(503):
				t.Errorf("request %d sent to a full queue: %s: the 503 must come once -connect-timeout (%v) has passed", i+1, a.describe(), connect)
			default:
				t.Errorf("request %d sent while both threads were busy and the queue (-listen-backlog 2: 3 connections) full: %s, "+
					"want 503 after -connect-timeout %v", i+1, a.describe(), connect)
			}
		}
	})
	t.Run("not at once", func(t *spec.T) {
		for i, a := range extras {
			if a.is(503) && a.took < connect*85/100 {
				t.Errorf("request %d sent to a full queue: 503 after %v, before -connect-timeout (%v) had passed: try to connect "+
					"again until then", i+1, a.took.Round(time.Millisecond), connect)
			}
		}
	})
}

func checkQueueTimeout5(t *spec.T) {
	before := counterValue(t, t.Dial())
	t.Run("504 after waiting past -queue-timeout", func(t *spec.T) {
		busy := askLater(t, "/sleep?ms=1500", 5*time.Second)
		time.Sleep(150 * time.Millisecond)
		a := ask(t, "/counter", 5*time.Second)
		<-busy
		t.Logf("GET /counter behind a request of 1.5s: %s", a.describe())
		if !a.is(504) {
			t.Fatalf("GET /counter, which waited about 1.35s behind a request of 1.5s with -queue-timeout 500ms: %s, want 504 (Gateway "+
				"Timeout), from the daemon that picks it up", a.describe())
		}
	})
	t.Run("the app did not run", func(t *spec.T) {
		if v := counterValue(t, t.Dial()); v != before+1 {
			t.Errorf("the counter was %d before, and is %d now, after a GET /counter answered 504 and this one: want %d, the app must "+
				"not run for a request that waited past -queue-timeout", before, v, before+1)
		}
	})
	t.Run("the client cannot forge its start", func(t *spec.T) {
		req := get("/env", "X-Request-Start: t=1")
		r := roundTrip(t, t.Dial(), req, "200 OK, the environ with the front end's own X-Request-Start")
		if r.Status == 504 {
			t.Fatalf("%s with X-Request-Start: t=1 got 504: the front end let the client's stamp through, and the daemon took the "+
				"request for one that had waited 56 years", firstLine(req))
		}
		wantStatus(t, r, req, 200)
		start, _ := strings.CutPrefix(environ(t, r, req)["HTTP_X_REQUEST_START"], "t=")
		us, err := strconv.ParseInt(start, 10, 64)
		if age := time.Since(time.UnixMicro(us)); err != nil || age < -time.Minute || age > time.Minute {
			t.Errorf("%s: the environ's HTTP_X_REQUEST_START is %q: want t= and the microseconds since the epoch when the front "+
				"end started handing the request over, not the client's value", firstLine(req), "t="+start)
		}
	})
}

// restartWithin bounds, in 5.6, the time from a 504 to a new daemon's answer: the other request's end, the
// daemon's exit and a new daemon's start, with the margin of a loaded machine, and well under the spec's
// -shutdown-timeout of 5s.
const restartWithin = 3 * time.Second

func checkRequestTimeout5(t *spec.T) {
	t.Run("a sleeping request", func(t *spec.T) { hungRequest(t, "/sleep?ms=20000", time.Second, true) })
	t.Run("a CPU loop", func(t *spec.T) { hungRequest(t, "/cpu?ms=30000", time.Second, false) })
}

// hungRequest sends a request that runs past the server's -request-timeout rt to a front end of one daemon
// of two threads; with sibling, another that ends on its own while the first is stuck, and it checks that
// the daemon restarts.
func hungRequest(t *spec.T, target string, rt time.Duration, sibling bool) {
	kids := daemonsOf(t, 1, "with -processes 1")
	hung := askLater(t, target, rt+8*time.Second)
	otherTarget := fmt.Sprintf("/sleep?ms=%d", (rt * 7 / 10).Milliseconds())
	var other <-chan reply
	if sibling {
		// Shorter than the request timeout, and still running when the first request times out.
		time.Sleep(rt / 2)
		other = askLater(t, otherTarget, rt+8*time.Second)
	}
	a := <-hung
	answered := time.Now()
	t.Note(fmt.Sprintf("GET %s with -request-timeout %v: %s", target, rt, a.describe()))
	switch {
	case !a.is(504):
		t.Fatalf("GET %s with -request-timeout %v: %s, want 504 (Gateway Timeout) after about %v", target, rt, a.describe(), rt)
	case a.took < rt*9/10:
		t.Fatalf("GET %s: 504 after %v, before -request-timeout %v", target, a.took.Round(time.Millisecond), rt)
	case a.took > rt+2500*time.Millisecond:
		t.Fatalf("GET %s: 504 after %v: it must come at -request-timeout (%v), while the app still runs", target, a.took.Round(time.Millisecond), rt)
	}
	if !sibling {
		replaced(t, kids, 1, 8*time.Second, "after a request timeout")
		return
	}
	t.Run("the other request finishes", func(t *spec.T) {
		if b := <-other; !b.is(200) {
			t.Fatalf("GET %s, on the daemon's other thread while the first request hung: %s, want 200: the daemon "+
				"lets its other requests finish before it restarts", otherTarget, b.describe())
		}
	})
	t.Run("a new daemon soon", func(t *spec.T) {
		b := ask(t, "/hello", 8*time.Second)
		took := time.Since(answered)
		switch {
		case !b.is(200):
			t.Fatalf("GET /hello after the 504 and the end of the other request: %s, want 200", b.describe())
		case took > restartWithin:
			t.Errorf("GET /hello, sent once the other request had finished, was answered %v after the 504: the daemon waited "+
				"for the request that timed out (its app runs on) before it restarted; it must not, since that request may "+
				"never end", took.Round(time.Millisecond))
		}
	})
	t.Run("the daemon restarts", func(t *spec.T) {
		replaced(t, kids, 1, 8*time.Second, "after a request timeout")
		if b := ask(t, "/hello", 5*time.Second); !b.is(200) {
			t.Fatalf("GET /hello after the daemon restarted: %s, want 200", b.describe())
		}
	})
}

func checkDaemonDeath5(within time.Duration) func(t *spec.T) {
	return func(t *spec.T) {
		t.Run("kill -9", func(t *spec.T) {
			kids := daemonsOf(t, 2, "with -processes 2")
			long := askLater(t, "/sleep?ms=4000", 8*time.Second)
			time.Sleep(100 * time.Millisecond)
			short := askLater(t, "/sleep?ms=1500", 8*time.Second)
			time.Sleep(300 * time.Millisecond)
			if err := harness.SignalPid(kids[0], syscall.SIGKILL); err != nil {
				t.Fatalf("%v", err)
			}
			killed := time.Now()
			newDaemon(t, kids, killed, within, "kill -9 of daemon "+strconv.Itoa(kids[0]))
			l, s := <-long, <-short
			dead, alive := l, s
			if s.is(502) || s.err != nil {
				dead, alive = s, l
			}
			t.Note(fmt.Sprintf("the request of the killed daemon: %s; the other: %s", dead.describe(), alive.describe()))
			if !dead.is(502) {
				t.Errorf("the request the killed daemon was serving: %s, want 502 (Bad Gateway): its connection to the daemon "+
					"closed without an answer", dead.describe())
			}
			if !alive.is(200) {
				t.Errorf("the request of the other daemon: %s, want 200: a daemon's death must not disturb the others", alive.describe())
			}
		})
		t.Run("GET /crash", func(t *spec.T) {
			kids := daemonsOf(t, 2, "with -processes 2")
			busy := askLater(t, "/sleep?ms=1500", 8*time.Second)
			time.Sleep(150 * time.Millisecond)
			a := ask(t, "/crash", 5*time.Second)
			crashed := time.Now()
			if !a.is(502) {
				t.Errorf("GET /crash (the daemon exits at once): %s, want 502 (Bad Gateway)", a.describe())
			}
			newDaemon(t, kids, crashed, within, "GET /crash")
			if b := <-busy; !b.is(200) {
				t.Errorf("the request of the other daemon: %s, want 200", b.describe())
			}
		})
	}
}

// newDaemon checks that a daemon that is not one of kids answers GET /pid within d of since.
func newDaemon(t *spec.T, kids []int, since time.Time, d time.Duration, after string) {
	c := t.Dial()
	req := get("/pid")
	send(t, c, req, fmt.Sprintf("200 OK from a new daemon within %v", d))
	r, err := c.ReadResponse(8*time.Second, false)
	took := time.Since(since)
	if err != nil || r.Status != 200 {
		t.Fatalf("after %s, GET /pid on a new connection: %s: the master must start another daemon in its place",
			after, reply{r: r, err: err, took: took}.describe())
	}
	var p struct {
		PID int `json:"pid"`
	}
	json.Unmarshal(r.Body, &p)
	t.Note(fmt.Sprintf("%s: a new daemon (pid %d) answered %v after", after, p.PID, took.Round(time.Millisecond)))
	switch {
	case slices.Contains(kids, p.PID):
		t.Errorf("after %s, GET /pid was answered by pid %d, one of the daemons before %v, after %v: want a new daemon, at once",
			after, p.PID, kids, took.Round(time.Millisecond))
	case took > d:
		t.Errorf("after %s, a new daemon answered %v later, want within %v", after, took.Round(time.Millisecond), d)
	}
}

func checkSilentDaemon5(t *spec.T) {
	kid := daemonsOf(t, 1, "with -processes 1")[0]
	t.Run("a daemon that keeps talking", func(t *spec.T) {
		const chunks, gap = 8, 250 * time.Millisecond
		req := get(fmt.Sprintf("/stream?chunks=%d&bytes=10&ms=%d", chunks, gap.Milliseconds()))
		c := t.Dial()
		send(t, c, req, fmt.Sprintf("200 OK and the whole body, a chunk every %v: each well within -socket-timeout 1s", gap))
		start := time.Now()
		r, err := c.ReadResponse(6*time.Second, false)
		if err != nil {
			t.Fatalf("%s, a chunk every %v for %v: %s after %v: -socket-timeout 1s bounds each wait for the daemon, not its "+
				"whole answer, and a daemon that keeps talking must not be cut off", firstLine(req), gap, chunks*gap,
				harness.DescribeNetError(err), time.Since(start).Round(time.Millisecond))
		}
		wantStatus(t, r, req, 200)
		wantBody(t, r, req, alphabet(chunks*10))
	})
	defer harness.SignalPid(kid, syscall.SIGCONT)
	t.Run("before the response", func(t *spec.T) {
		c := t.Dial()
		req := get("/sleep?ms=300")
		send(t, c, req, "504 Gateway Timeout about 1s after the daemon stopped (-socket-timeout 1s)")
		time.Sleep(50 * time.Millisecond)
		if err := harness.SignalPid(kid, syscall.SIGSTOP); err != nil {
			t.Fatalf("%v", err)
		}
		defer harness.SignalPid(kid, syscall.SIGCONT)
		start := time.Now()
		r, err := c.ReadResponse(6*time.Second, false)
		a := reply{r: r, err: err, took: time.Since(start)}
		switch {
		case !a.is(504):
			t.Fatalf("%s, its daemon stopped (SIGSTOP) 50 ms in, with -socket-timeout 1s: %s, want 504", firstLine(req), a.describe())
		case a.took > 3*time.Second:
			t.Errorf("%s, its daemon stopped: 504 after %v, want about 1s (-socket-timeout)", firstLine(req), a.took.Round(time.Millisecond))
		}
	})
	harness.SignalPid(kid, syscall.SIGCONT)
	time.Sleep(400 * time.Millisecond) // the daemon finishes what it was doing
	t.Run("in the middle of the body", func(t *spec.T) {
		c := t.Dial()
		req := get("/stream?chunks=20&bytes=10&ms=200")
		send(t, c, req, "the head and the first chunks, then the connection closed about 1s after the daemon stopped")
		for deadline := time.Now().Add(3 * time.Second); ; {
			got := string(c.Buffered())
			if i := strings.Index(got, "\r\n\r\n"); i >= 0 && len(got) > i+4 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no body within 3s: %q", firstLine(req), got)
			}
			c.ReadResponse(20*time.Millisecond, false)
		}
		if err := harness.SignalPid(kid, syscall.SIGSTOP); err != nil {
			t.Fatalf("%v", err)
		}
		defer harness.SignalPid(kid, syscall.SIGCONT)
		start := time.Now()
		r, err := c.ReadResponse(6*time.Second, false)
		var re *harness.ReadError
		switch {
		case err == nil:
			t.Fatalf("%s: a complete response (%s) from a daemon stopped in the middle of its body", firstLine(req), status(r))
		case errors.As(err, &re) && re.Timeout():
			t.Fatalf("%s: the response stopped with its daemon, and the connection was still open %v later: with -socket-timeout "+
				"1s, cut it short (the client then knows the body is incomplete)", firstLine(req), time.Since(start).Round(time.Millisecond))
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("%s: the connection closed %v after the daemon stopped, want about 1s (-socket-timeout)", firstLine(req), took.Round(time.Millisecond))
		}
	})
}

func checkClientGone5(t *spec.T) { clientGone(t) }

// clientGone starts a long stream, goes away after its first bytes, and checks that the app's body is closed
// and the daemon free again: with one daemon thread, /stats is answered only once it is.
func clientGone(t *spec.T) {
	readStats(t, true)
	c := t.Dial()
	req := get("/stream?chunks=1000&bytes=1000&ms=5")
	send(t, c, req, "the start of a stream of 5s, then nothing: the client goes away")
	for deadline := time.Now().Add(3 * time.Second); len(c.Buffered()) < 2000; {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d bytes within 3s", firstLine(req), len(c.Buffered()))
		}
		c.ReadResponse(20*time.Millisecond, false)
	}
	c.Close()
	gone := time.Now()
	var last string
	for time.Since(gone) < 3*time.Second {
		a := ask(t, "/stats", 3*time.Second)
		if !a.is(200) {
			t.Fatalf("GET /stats after the client of a stream went away: %s: the daemon's thread is still busy with the stream. "+
				"Close the connection to the daemon when the client goes away: its writes then fail, and it stops", a.describe())
		}
		var s poolStats
		var closes struct {
			Closes int64 `json:"closes"`
		}
		json.Unmarshal(a.r.Body, &s)
		json.Unmarshal(a.r.Body, &closes)
		last = strings.TrimSpace(string(a.r.Body))
		if s.Inflight == 0 && s.Calls > 0 && closes.Closes > 0 {
			t.Note(fmt.Sprintf("the stream's body was closed, and the thread free, %v after the client went away", time.Since(gone).Round(time.Millisecond)))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("3s after the client of a stream went away, the app's gauge says %s: the body the app returned was not closed "+
		"(WSGI's close()). The daemon's writes fail once the front end closes the connection, and the gateway then closes the body", last)
}

// failures counts the requests of a load that failed: errors, and statuses but 200.
func failures(res *load.Result) int64 {
	n := int64(0)
	for _, e := range res.Errors {
		n += e
	}
	for code, k := range res.Status {
		if code != 200 {
			n += k
		}
	}
	return n
}

// reloadUnderLoad sends SIGHUP to the front end 800 ms into 2.5 s of GET /hello on conns keep-alive
// connections, and checks that no request failed and that the n daemons were all replaced.
func reloadUnderLoad(t *spec.T, conns, n int, what string) {
	before := daemonsOf(t, n, fmt.Sprintf("with -processes %d", n))
	var res *load.Result
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err = load.Run(context.Background(), load.Config{Addr: t.Addr(), Conns: conns, Duration: 2500 * time.Millisecond,
			Requests: 1_000_000, Request: []byte(get("/hello")), Timeout: 4 * time.Second, Retry: true})
	}()
	time.Sleep(800 * time.Millisecond)
	serr := t.Server().Signal(syscall.SIGHUP)
	<-done
	if serr != nil {
		t.Fatalf("%v", serr)
	}
	if err != nil {
		t.Fatalf("the load generator: %v", err)
	}
	failed := failures(res)
	t.Note(fmt.Sprintf("SIGHUP under load, %s: %d requests, %d failed, %d retried", what, res.Requests, failed, res.Retries))
	if failed > 0 {
		t.Errorf("%d of %d requests failed during the reload (errors %v, statuses %v): want none", failed, res.Requests+failed, res.Errors, res.Status)
	}
	replaced(t, before, n, 5*time.Second, "after SIGHUP")
}

func checkRestarts5(t *spec.T) {
	t.Run("-maximum-requests", func(t *spec.T) {
		before := daemonsOf(t, 2, "with -processes 2")
		res, err := load.Run(context.Background(), load.Config{Addr: t.Addr(), Conns: 4, Requests: 1200, Duration: 12 * time.Second,
			Request: []byte(get("/hello", "Connection: close")), Timeout: 4 * time.Second, Retry: true})
		if err != nil {
			t.Fatalf("the load generator: %v", err)
		}
		failed := failures(res)
		t.Note(fmt.Sprintf("1200 requests with -maximum-requests 200, a new connection each: %d failed", failed))
		if failed > 0 {
			t.Errorf("%d of %d requests failed while the daemons recycled (errors %v, statuses %v): want none", failed, res.Requests+failed, res.Errors, res.Status)
		}
		replaced(t, before, 2, 3*time.Second, "after 1200 requests with -maximum-requests 200")
	})
	t.Run("SIGHUP", func(t *spec.T) { reloadUnderLoad(t, 8, 2, "Go daemons") })
}

func checkPython5(t *spec.T) {
	var kids []int
	t.Run("Python answers", func(t *spec.T) {
		kids = daemonsOf(t, 2, "with -daemon python -processes 2")
		for _, pid := range kids {
			// A daemon just forked shows the front end's command line until it has exec'd the interpreter: the
			// front end listens before it starts them.
			var cmdline []byte
			isPython := func() bool {
				cmdline, _ = os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				return strings.Contains(string(cmdline), "python") && strings.Contains(string(cmdline), "daemon.py")
			}
			if !waitFor(3*time.Second, isPython) {
				t.Fatalf("daemon %d runs %q, want a Python interpreter running daemon.py", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
			}
		}
		if pid := pidOf(t, t.Dial()); !slices.Contains(kids, pid) {
			t.Fatalf("GET /pid was answered by pid %d, not one of the Python daemons %v", pid, kids)
		}
	})
	if kids == nil {
		return
	}
	t.Run("what the app is told", checkMultiFlags(map[string]string{"wsgi.multiprocess": "true", "wsgi.multithread": "true"}))
	t.Run("GET /hello", func(t *spec.T) {
		req := get("/hello")
		r := roundTrip(t, t.Dial(), req, `200 OK and "Hello, World!\n"`)
		wantStatus(t, r, req, 200)
		wantBody(t, r, req, hello)
	})
	t.Run("bodies both ways", func(t *spec.T) {
		checkContentLength(t)
		checkChunked(t)
	})
	t.Run("a streamed body", checkStream)
	t.Run("the environ", checkEnviron(nil))
	t.Run("PEP 3333's validator", func(t *spec.T) {
		for line := range strings.SplitSeq(t.Server().Output(), "\n") {
			if strings.Contains(line, "AssertionError") || strings.Contains(line, "WSGIWarning") {
				t.Fatalf("wsgiref.validate, which wraps the app, complained: %s", strings.TrimSpace(line))
			}
		}
	})
}

func checkPythonTimeouts5(t *spec.T) {
	t.Run("-queue-timeout", func(t *spec.T) {
		before := counterValue(t, t.Dial())
		// Shorter than -request-timeout 2s, longer than -queue-timeout 300ms.
		var busy []<-chan reply
		for range 2 {
			busy = append(busy, askLater(t, "/sleep?ms=900", 5*time.Second))
		}
		time.Sleep(150 * time.Millisecond)
		a := ask(t, "/counter", 5*time.Second)
		for _, b := range busy {
			<-b
		}
		if !a.is(504) {
			t.Fatalf("GET /counter, which waited about 750ms for one of the two threads with -queue-timeout 300ms: %s, want 504", a.describe())
		}
		if v := counterValue(t, t.Dial()); v != before+1 {
			t.Errorf("the counter went from %d to %d over a GET /counter answered 504 and this one: the app ran for the request "+
				"that timed out in the queue", before, v)
		}
	})
	t.Run("-request-timeout", func(t *spec.T) { hungRequest(t, "/sleep?ms=20000", 2*time.Second, true) })
}

func checkPythonLife5(t *spec.T) {
	t.Run("GET /crash", func(t *spec.T) {
		kids := daemonsOf(t, 1, "with -processes 1")
		a := ask(t, "/crash", 5*time.Second)
		if !a.is(502) {
			t.Errorf("GET /crash (the Python daemon exits at once): %s, want 502 (Bad Gateway)", a.describe())
		}
		newDaemon(t, kids, time.Now(), 3*time.Second, "GET /crash")
	})
	t.Run("the client goes away", clientGone)
	t.Run("SIGHUP under load", func(t *spec.T) { reloadUnderLoad(t, 4, 1, "Python daemons") })
}

func checkFlask5(t *spec.T) {
	req := get("/")
	r := roundTrip(t, t.Dial(), req, "200 OK from Flask: Hello from Flask!")
	wantStatus(t, r, req, 200)
	wantBody(t, r, req, "Hello from Flask!\n")

	req = get("/hello/grader")
	r = roundTrip(t, t.Dial(), req, "200 OK and Flask's JSON, with what the app was told")
	wantStatus(t, r, req, 200)
	var hi struct {
		Greeting     string `json:"greeting"`
		MultiThread  bool   `json:"multithread"`
		MultiProcess bool   `json:"multiprocess"`
	}
	if err := json.Unmarshal(r.Body, &hi); err != nil || hi.Greeting != "Hello, grader!" {
		t.Fatalf("%s: the body %q is not Flask's greeting", firstLine(req), r.Body)
	}
	if !hi.MultiThread || hi.MultiProcess {
		t.Errorf("%s: Flask was told multithread %v and multiprocess %v, want true and false (-processes 1 -threads 2)", firstLine(req), hi.MultiThread, hi.MultiProcess)
	}

	body := `{"a": [1, 2, "three"]}`
	req = request("POST", "/echo", body, "Content-Type: application/json", "Content-Length: "+strconv.Itoa(len(body)))
	r = roundTrip(t, t.Dial(), req, "200 OK and the JSON back, as Flask encodes it")
	wantStatus(t, r, req, 200)
	var echoed map[string]any
	if err := json.Unmarshal(r.Body, &echoed); err != nil || fmt.Sprint(echoed["a"]) != "[1 2 three]" {
		t.Errorf("%s: the body %q is not the JSON sent", firstLine(req), r.Body)
	}

	req = get("/old")
	r = roundTrip(t, t.Dial(), req, "302 Found to /")
	wantStatus(t, r, req, 302)
	if loc := r.Get("Location"); !strings.HasSuffix(loc, "/") {
		t.Errorf("%s: Location %q, want Flask's redirect to /", firstLine(req), loc)
	}

	req = get("/boom")
	r = roundTrip(t, t.Dial(), req, "500 from Flask, which catches the exception of its view")
	wantStatus(t, r, req, 500)
}
