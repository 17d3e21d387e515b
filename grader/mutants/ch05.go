package mutants

// chapter5 are the bugs of a daemon-mode server: what a learner gets wrong writing chapter 5's steps, the
// request in SCGI and the CGI response (package scgi's WriteRequest and ReadResponse, the reference answers to
// steps 1 and 2), the hop that streams the daemon's answer back, the connect that tries again, the stamp and
// the queue time (package daemon's Hop, Dial, Stamp and QueueTime, steps 3 and 6), the daemon that serves the
// group's socket and restarts (package daemon's Server, steps 5 and 7, and what the solution gives it), the
// Python daemon's command line (wsgi.Command, step 8), and the front end's shutdown.
var chapter5 = []Mutant{
	// Step 1: the request on the wire.
	{
		Name: "netstring-length-one-nul-short", Chapter: 5, File: scgiRequest,
		Old:     "size += len(name) + len(value) + 2",
		New:     "size += len(name) + len(value) + 1",
		Bug:     "The netstring's length counts one NUL per variable, not two, so it ends before the last variables and the daemon finds no comma where it expects one.",
		Shows:   "GET /hello gets an error from the daemon (its netstring is malformed), not 200.",
		Killers: []string{"1.1", "5.1"},
	},
	{
		Name: "chunked-body-sent-empty", Chapter: 5, File: scgiRequest,
		Old: `	if cl == "" {
		b, err := io.ReadAll(body)
		if err != nil {
			return fmt.Errorf("scgi: reading the request body to count it: %w", err)
		}
		body, length = bytes.NewReader(b), int64(len(b))
	} else {
`,
		New: `	if cl == "" {
		length = 0 // no Content-Length, no body
	} else {
`,
		Bug:     "A request without CONTENT_LENGTH is sent to the daemon with an empty body, though a chunked body has no length until it is read.",
		Shows:   "POST /echo with a chunked body gets 200 with an empty body, not the body sent.",
		Killers: []string{"1.5"},
	},

	// Step 2: the answer.
	{
		Name: "status-field-ignored", Chapter: 5, File: scgiResponse,
		Old: `		case strings.EqualFold(h.Name, "Status"):
			if res.Code != 0 {
				return nil, responseError("the status is given twice (a second one is %q)", h.Value)
			}
			if err := res.setStatus(h.Value); err != nil {
				return nil, err
			}
`,
		New:     "",
		Bug:     "The daemon's Status field is passed on as any other field, so every answer is 200 OK.",
		Shows:   "GET /error gets 200 with a Status: 500 field, not 500; a request that waited past -queue-timeout gets 200, not 504.",
		Killers: []string{"1.12", "5.5"},
	},

	// Step 3: the hand-off.
	{
		Name: "content-length-ignored", Chapter: 5, File: daemonHop,
		Old: `	b.left = -1
	for _, f := range res.Header {
		if strings.EqualFold(f.Name, "Content-Length") {
			b.left, _ = strconv.ParseInt(f.Value, 10, 64) // digits: ReadResponse checked
		}
	}
`,
		New:        "\tb.left = -1 // the body ends when the daemon closes\n",
		Bug:        "The hop reads a daemon's body until the daemon closes the connection, even when the daemon gave its length.",
		Equivalent: "a daemon closes its connection as soon as it has written its answer (one request per connection), so reading until the close yields the same bytes, a moment later; the client's framing comes from the daemon's Content-Length either way.",
	},
	{
		Name: "timeout-answered-502", Chapter: 5, File: daemonHop,
		Old: `	case isTimeout(err):
		err = errorf(504, "the daemon sent nothing for the socket timeout of %v", h.SocketTimeout)
`,
		New:     "",
		Bug:     "Every failure to read the daemon's answer is a 502, a daemon silent for -socket-timeout too.",
		Shows:   "With -socket-timeout 1s, GET /sleep?ms=300 whose daemon is stopped (SIGSTOP) gets 502 after 1 s, not 504.",
		Killers: []string{"5.8"},
	},
	{
		Name: "socket-deadline-once", Chapter: 5, File: daemonHop,
		Old: "\tb.br.Reset(timeoutConn{conn, h.SocketTimeout})\n",
		New: `	if h.SocketTimeout > 0 {
		conn.SetReadDeadline(time.Now().Add(h.SocketTimeout)) // the whole answer's
	}
	b.br.Reset(conn)
`,
		Bug:     "The socket timeout is one deadline for the whole answer, set once, not a bound on each read, so a daemon that keeps talking is cut off.",
		Shows:   "With -socket-timeout 1s, GET /stream?chunks=8&bytes=10&ms=250, a chunk every 250 ms for 2 s, is cut after 1 s.",
		Killers: []string{"5.8"},
	},

	// Step 4: the group's socket (step 6: the connect).
	{
		Name: "refused-not-retried", Chapter: 5, File: daemonHop,
		Old:        "if !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.ECONNREFUSED) {",
		New:        "if !errors.Is(err, syscall.EAGAIN) {",
		Bug:        "A connect refused because nobody listens on the group's socket gets 503 at once instead of another try.",
		Equivalent: "the front end makes the group's socket and holds it open and listening as long as it runs, through every restart of the daemons, so a connect to it is never refused: a full queue answers EAGAIN, which is still tried again.",
	},

	// Step 5: the daemon.
	{
		Name: "multi-flags-swapped", Chapter: 5, File: daemonDaemon,
		Old:     "gateway.Server{MultiThread: dc.Threads > 1, MultiProcess: dc.Processes > 1, Errors: os.Stderr}",
		New:     "gateway.Server{MultiThread: dc.Processes > 1, MultiProcess: dc.Threads > 1, Errors: os.Stderr}",
		Bug:     "The daemon sets wsgi.multithread from -processes and wsgi.multiprocess from -threads.",
		Shows:   "With -processes 1 -threads 4, GET /env shows wsgi.multithread \"false\" and wsgi.multiprocess \"true\".",
		Killers: []string{"5.2", "5.3"},
	},

	// Step 6: the stamp and the queue timeout.
	{
		Name: "stamp-in-milliseconds", Chapter: 5, File: daemonHop,
		Old:     `env.Vars[RequestStart] = "t=" + strconv.FormatInt(t.UnixMicro(), 10)`,
		New:     `env.Vars[RequestStart] = "t=" + strconv.FormatInt(t.UnixMilli(), 10)`,
		Bug:     "The front end stamps the request in milliseconds where the daemon reads microseconds, so every request looks decades old.",
		Shows:   "GET /hello gets 504 (it waited past -queue-timeout, says the daemon), not 200.",
		Killers: []string{"1.1", "5.5"},
	},
	{
		Name: "queue-wait-negative", Chapter: 5, File: daemonHop,
		Old:     "return now.Sub(time.UnixMicro(us)), true",
		New:     "return time.UnixMicro(us).Sub(now), true",
		Bug:     "The daemon subtracts now from the stamp, not the stamp from now, so every wait is negative and none passes -queue-timeout.",
		Shows:   "With -processes 1 -threads 1 -queue-timeout 500ms, GET /counter that waited 1.35 s behind GET /sleep?ms=1500 gets 200, not 504.",
		Killers: []string{"5.5"},
	},

	// Step 7: requests that never end.
	{
		Name: "restart-waits-for-stuck", Chapter: 5, File: daemonServer,
		Old:     "\t\t\tdone() // not waited for: it may never end\n",
		New:     "",
		Bug:     "A daemon restarting after a request timeout counts the stuck request among those it lets finish, so it waits out -shutdown-timeout before it exits.",
		Shows:   "With -processes 1 -threads 2 -request-timeout 1s -shutdown-timeout 3s, after GET /sleep?ms=20000 got its 504 and the other request ended, no daemon serves for 3 s.",
		Killers: []string{"5.6"},
	},
	{
		Name: "shutdown-timeout-not-passed", Chapter: 5, File: daemonDaemon,
		Old:     "\t\tShutdownTimeout: dc.ShutdownTimeout,\n\t\tMaxRequests:     dc.MaximumRequests,\n",
		New:     "\t\tMaxRequests: dc.MaximumRequests,\n",
		Bug:     "The daemon is not given -shutdown-timeout, so when it restarts it gives its other requests no time and exits under them.",
		Shows:   "With -processes 1 -threads 2 -request-timeout 1s, the request running beside one that timed out gets 502 when the daemon restarts, not 200.",
		Killers: []string{"5.6", "5.10"},
	},

	// Step 8: the Python daemon's command line.
	{
		Name: "python-processes-threads-swapped", Chapter: 5, File: wsgiCommand,
		Old: `		"--processes", strconv.Itoa(dc.Processes),
		"--threads", strconv.Itoa(dc.Threads),
`,
		New: `		"--processes", strconv.Itoa(dc.Threads),
		"--threads", strconv.Itoa(dc.Processes),
`,
		Bug:     "The front end passes -processes to daemon.py as --threads and -threads as --processes.",
		Shows:   "With -daemon python -processes 1 -threads 2, the one daemon runs one request at a time: a request beside one that times out waits for the restart.",
		Killers: []string{"5.13", "5.14"},
	},
	{
		Name: "python-timeouts-in-milliseconds", Chapter: 5, File: wsgiCommand,
		Old:     "return strconv.FormatFloat(d.Seconds(), 'g', -1, 64)",
		New:     "return strconv.FormatInt(d.Milliseconds(), 10)",
		Bug:     "The front end passes daemon.py its timeouts in milliseconds, where daemon.py reads seconds.",
		Shows:   "With -daemon python -queue-timeout 300ms, a request that waited a second for a thread gets 200, not 504: daemon.py waits 300 s.",
		Killers: []string{"5.13"},
	},
	{
		Name: "pythonpath-without-folder", Chapter: 5, File: wsgiCommand,
		Old:        "\tpythonPath := []string{dir}\n",
		New:        "\tvar pythonPath []string\n",
		Bug:        "The front end leaves daemon.py's own folder out of PYTHONPATH.",
		Equivalent: "Python puts the folder of the script it runs first on sys.path, and the course's apps are unpacked beside daemon.py, so they are imported all the same; an app of -python-path is still on PYTHONPATH.",
	},

	// Stopping.
	{
		Name: "front-waits-for-every-request", Chapter: 5, File: daemonFront,
		Old:     "\tif !launch.WaitFor(&wg, dc.ShutdownTimeout) {\n",
		New:     "\tif wg.Wait(); false {\n",
		Bug:     "On SIGTERM the front end waits for every request in flight, however long, ignoring -shutdown-timeout.",
		Shows:   "With -shutdown-timeout 2s, SIGTERM while GET /sleep?ms=20000 runs: the server exits after 20 s, not about 3 s.",
		Killers: []string{"5.11"},
	},
}
