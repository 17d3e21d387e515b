"""A daemon process that runs a WSGI application for a front end: it reads requests in SCGI from a listening
socket, runs the application on a few threads, and writes the responses back.

    python3 daemon.py [--threads T] [--processes P] [--bind PATH] [--queue-timeout S] [--request-timeout S]
                      [--maximum-requests N] module:callable

This is what mod_wsgi's daemon mode and uWSGI do: the web server that faces the clients does not run the
application; processes like this one do, and can be sized, restarted and given their own user, memory and
Python on their own. Chapter 5's front end talks to them; chapter 4's master starts them and keeps them
running. Standard library only.

One process, T threads. A thread takes a connection from the listening socket only when it is free, so the
requests that no thread can take yet wait in the socket's backlog, where the other daemons of the group can
take them too: the backlog is the group's queue. Each thread serves one request at a time through
wsgiref.handlers, the standard library's WSGI server side, which calls the application and writes its
response as CGI does (RFC 3875 section 6): a Status header, the other headers, a blank line, the body until
the connection closes.

Started by the master (chapter 4), the process finds in its environment:

    PREFORK_FD=3            the listening socket, inherited as descriptor 3
    PREFORK_WORKER=N        its worker id, which the test application shows at /pid
    PREFORK_HEARTBEAT_FD=4  the write end of a pipe to the master
    PREFORK_BEAT_MS=1000    how often to beat

It writes "R" to the pipe once it is ready to serve, then "." every PREFORK_BEAT_MS. It stops when the master
says so (SIGTERM), when the master is gone (writing to the pipe fails, or it has another parent), or on
Ctrl-C: it takes no more connections, finishes the requests it has, and exits with status 0. SIGKILL is the
master's last word. With --bind PATH it makes its own socket instead, to be run by hand.

What mod_wsgi's daemon processes do with their requests, this one does too, each with the option of the
same name: --queue-timeout answers 504, without running the application, a request that waited longer for
a thread (the front end says when it started waiting, in X-Request-Start: t=<microseconds since the epoch>);
--request-timeout answers 504 a request that runs longer, and restarts the daemon (a thread cannot be
stopped, a process can: the daemon stops taking connections, gives the other requests --shutdown-timeout
to finish, and exits, and the master starts another); --maximum-requests restarts it the same way after
that many requests.

Exit statuses: 0 after a stop, 2 for a bad command line, 4 when the application cannot be loaded (gunicorn
uses the same code, so that a master does not restart a daemon that cannot start).

--processes does not start processes (the master does); it says how many run the application, so that the
daemon can tell the application the truth in wsgi.multiprocess.
"""

import argparse
import importlib
import os
import queue
import select
import signal
import socket
import sys
import threading
import time
import traceback
import wsgiref.handlers

MAX_HEADER = 64 << 10  # the netstring of variables, as the Go package's scgi.DefaultLimits
MAX_BODY = 1 << 30


class BadRequest(Exception):
    """An SCGI request that breaks the protocol: the daemon answers with code and the reason, then closes."""

    def __init__(self, reason, code=400):
        super().__init__(reason)
        self.code = code


def read_request(rfile):
    """Read an SCGI request's variables from rfile (python.ca/scgi/protocol.txt, section 3): a netstring of
    "NAME\\0value\\0" pairs, CONTENT_LENGTH first, SCGI=1 among them. Return the CGI variables, as the native
    strings of PEP 3333 (each byte one character, as Latin-1 decodes it), and the body's length. Raise EOFError
    when the connection closed before a request, BadRequest when the request breaks the rules. The checks and
    the reasons are those of the Go package chapters/scgi, word for word."""
    return parse_variables(read_netstring(rfile, MAX_HEADER))


def read_netstring(rfile, limit):
    """Read a netstring (cr.yp.to/proto/netstrings.txt) of at most limit bytes: its length in decimal, a colon,
    that many bytes, a comma. Return the bytes."""
    size = b""
    while True:
        c = rfile.read(1)
        if not c:
            if not size:
                raise EOFError("connection closed before a request")
            raise BadRequest("connection closed in the netstring's length")
        if c == b":" and size:
            break
        if not c.isdigit():
            raise BadRequest("a request must start with a netstring's length and a colon, as 70:, not %s"
                             % quote_byte(c))
        if size == b"0":
            raise BadRequest("the netstring's length has a leading zero")
        size += c
        if int(size) > limit:
            raise BadRequest("the variables are longer than %d bytes" % limit, 431)
    n = int(size)
    block = rfile.read(n + 1)  # the bytes and the comma
    if len(block) == n:
        raise BadRequest("connection closed before the comma that ends the netstring")
    if len(block) < n:
        raise BadRequest("connection closed after %d of the %d bytes of the variables" % (len(block), n))
    if block[n:] != b",":
        raise BadRequest("the netstring of %d bytes of variables ends in %s, not a comma"
                         % (n, quote_byte(block[n:])))
    return block[:n]


def parse_variables(block):
    """Split the netstring's bytes into variables and check the protocol's rules: CONTENT_LENGTH first and a
    number, SCGI=1, no name twice. Return the variables without SCGI, and the body's length."""
    if not block.endswith(b"\0"):
        raise BadRequest("the variables do not end in a NUL byte")
    fields = block[:-1].split(b"\0")
    if len(fields) % 2:
        raise BadRequest("the variables hold a name without a value (an odd number of NUL-terminated strings)")
    environ = {}
    for name, value in zip(fields[0::2], fields[1::2]):
        name = name.decode("latin-1")
        if not name:
            raise BadRequest("a variable has an empty name")
        if not environ and name != "CONTENT_LENGTH":
            raise BadRequest("the first variable is %s; it must be CONTENT_LENGTH" % quote(name))
        if name in environ:
            raise BadRequest("variable %s is sent twice" % quote(name))
        environ[name] = value.decode("latin-1")

    length = environ["CONTENT_LENGTH"]
    if not (length.isascii() and length.isdigit()) or len(length) > 18:
        raise BadRequest("CONTENT_LENGTH %s is not a number of bytes" % quote(length))
    if int(length) > MAX_BODY:
        raise BadRequest("a body of %d bytes is over the limit of %d" % (int(length), MAX_BODY), 413)
    environ["CONTENT_LENGTH"] = str(int(length))  # "007" is 7 bytes, and the app sees "7"
    if "SCGI" not in environ:
        raise BadRequest("no SCGI variable (the protocol requires SCGI=1)")
    version = environ.pop("SCGI")  # the protocol's, not the application's
    if version != "1":
        raise BadRequest("SCGI is %s; this daemon speaks SCGI 1" % quote(version))
    return environ, int(length)


def quote(s):
    """A native string between double quotes, as Go's %q writes printable ASCII, so that the reasons are the
    Go package's word for word."""
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def quote_byte(b):
    """One byte between single quotes, as Go's %q writes a byte: 'G', or '\\x00' when it is not printable."""
    c = b.decode("latin-1")
    if c in "'\\":
        return "'\\%s'" % c
    return "'%s'" % c if " " <= c <= "~" else "'\\x%02x'" % ord(c)


def queue_time(environ, now):
    """How long the request waited for this thread, from the start the front end put in X-Request-Start
    (t=<microseconds since the epoch>), or None when it says nothing usable."""
    value = environ.get("HTTP_X_REQUEST_START", "")
    if not value.startswith("t=") or not value[2:].isdigit():
        return None
    return now - int(value[2:]) / 1e6


class Input:
    """wsgi.input: the request body, CONTENT_LENGTH bytes of the connection and no more, so that an app that
    reads to the end finds it (PEP 3333 lets a server simulate the end of the input; this one does)."""

    def __init__(self, rfile, length):
        self._rfile = rfile
        self._left = length

    def read(self, size=-1):
        if size is None or size < 0 or size > self._left:
            size = self._left
        data = self._rfile.read(size) if size else b""
        self._left -= len(data)
        if len(data) < size:
            raise self._cut()
        return data

    def readline(self, size=-1):
        if size is None or size < 0 or size > self._left:
            size = self._left
        data = self._rfile.readline(size) if size else b""
        self._left -= len(data)
        if len(data) < size and not data.endswith(b"\n"):
            raise self._cut()
        return data

    def readlines(self, hint=-1):
        lines, total = [], 0
        for line in self:
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def _cut(self):
        return ConnectionError("connection closed with %d bytes of the body still to come" % self._left)

    def drain(self):
        """Read what the app left of the body. Closing a socket with bytes still unread makes the kernel reset
        the connection, and the front end, reading the body until the close, would take the reset for a
        daemon that failed mid-response."""
        while self._left > 0:
            self.read(min(self._left, 64 << 10))


class SCGIHandler(wsgiref.handlers.BaseCGIHandler):
    """wsgiref's server side, over one SCGI connection. BaseCGIHandler already writes a CGI response (a Status
    header, not an HTTP status line) and takes wsgi.multithread and wsgi.multiprocess as arguments; this class
    changes two of its defaults."""

    # BaseHandler starts every environ from a copy of os.environ, which suits a CGI script, whose environment
    # is the request. A daemon's environment is its own (PATH, HOME, PREFORK_FD): not the application's to see.
    os_environ = {}

    # A failure before the response started is answered as the Go gateway answers it, so that the two
    # daemons agree (wsgiref's own text is "A server error occurred.  Please contact the administrator.").
    error_status = "500 Internal Server Error"
    error_headers = [("Content-Type", "text/plain; charset=utf-8")]
    error_body = b"500 Internal Server Error\n"

    def write(self, data):
        # PEP 3333 wants the headers held back until the first non-empty chunk, so that an app can still fail
        # with a clean 500 and a body of empty chunks gets a Content-Length of 0; wsgiref sends them with the
        # first chunk, even an empty one.
        if data == b"" and not self.headers_sent:
            return
        super().write(data)


class Guard:
    """The connection's output, shared by the thread that serves the request and the main thread, which
    answers 504 in its place when the request runs past --request-timeout: whichever writes first owns it.
    Once abandoned, the request's writes fail with ConnectionAbortedError, which wsgiref takes for a front end
    that went away: it calls close() on the application's iterable and returns."""

    def __init__(self, wfile):
        self._wfile = wfile
        self._lock = threading.Lock()
        self._started = False
        self._abandoned = False

    def write(self, data):
        with self._lock:
            self._check()
            self._started = True
            return self._wfile.write(data)

    def flush(self):
        with self._lock:
            self._check()
            self._wfile.flush()

    def _check(self):
        if self._abandoned:
            raise ConnectionAbortedError("the request ran past --request-timeout and was answered 504")

    def abandon(self, answer):
        """Take the connection from the request, and write answer on it if the response has not started."""
        with self._lock:
            self._abandoned = True
            if self._started:
                return
            try:
                self._wfile.write(answer)
                self._wfile.flush()
            except OSError:
                pass


class Request:
    """A request being served, as the main thread watches it."""

    def __init__(self, conn, guard, environ):
        self.conn = conn
        self.guard = guard
        self.start = time.monotonic()
        self.what = "%s %s" % (environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
        self.abandoned = False


class Settings:
    """What the daemon was told on its command line, for each request."""

    def __init__(self, app, multithread, multiprocess, queue_timeout, inflight):
        self.app = app
        self.multithread = multithread
        self.multiprocess = multiprocess
        self.queue_timeout = queue_timeout
        self.inflight = inflight  # thread id -> Request, under inflight_lock
        self.inflight_lock = threading.Lock()


def serve_connection(conn, s):
    """Serve the one request of an SCGI connection with the application of s."""
    rfile = conn.makefile("rb")
    wfile = conn.makefile("wb")  # buffered: the headers leave with the first chunk, in one send
    me = threading.get_ident()
    try:
        try:
            environ, length = read_request(rfile)
        except EOFError:
            return
        except BadRequest as e:
            log("refused a request: %s" % e)
            refuse(wfile, e)
            return
        body = Input(rfile, length)
        waited = queue_time(environ, time.time())
        if s.queue_timeout and waited is not None and waited > s.queue_timeout:
            # mod_wsgi's queue-timeout: the client has waited long enough; the application does not run.
            log("queue timeout: %s %s waited %.3fs for a thread, more than --queue-timeout %gs: answered 504"
                % (environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), waited, s.queue_timeout))
            body.drain()
            write_error(wfile, 504, "the request waited %.3fs for a daemon thread, more than the queue timeout "
                                    "of %gs" % (waited, s.queue_timeout))
            return
        guard = Guard(wfile)
        with s.inflight_lock:
            s.inflight[me] = Request(conn, guard, environ)
        handler = SCGIHandler(body, guard, sys.stderr, environ,
                              multithread=s.multithread, multiprocess=s.multiprocess)
        handler.run(s.app)  # calls app, writes the response, calls close() on what app returned
        body.drain()
    except OSError as e:  # the front end went away or timed out, or the request was abandoned
        log("connection lost: %s" % e)
    finally:
        with s.inflight_lock:
            s.inflight.pop(me, None)
        for f in (wfile, rfile):
            try:
                f.close()
            except OSError:
                pass
        conn.close()


def refuse(wfile, err):
    """Answer a request that broke the protocol, as the Go package's scgi.Refuse does."""
    write_error(wfile, err.code, str(err))


def write_error(wfile, code, msg):
    """Write a short CGI response with status code and msg, as the Go package's scgi.WriteError does."""
    reason = {400: "Bad Request", 413: "Content Too Large", 431: "Request Header Fields Too Large",
              504: "Gateway Timeout"}[code]
    wfile.write(error_response(code, reason, msg))
    wfile.flush()


def error_response(code, reason, msg):
    body = ("%d %s: %s\n" % (code, reason, msg)).encode("latin-1")
    return (b"Status: %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n\r\n"
            % (code, reason.encode(), len(body)) + body)


class Free:
    """The threads that are free to take a connection: a token each in a queue, which the main thread takes
    before it accepts and a thread gives back once it has served. (threading.Semaphore would do, but it is
    written in Python; queue.SimpleQueue is in C, and this runs for every request.)"""

    def __init__(self, n):
        self._tokens = queue.SimpleQueue()
        for _ in range(n):
            self._tokens.put(None)

    def take(self, timeout):
        try:
            self._tokens.get(timeout=timeout)
            return True
        except queue.Empty:
            return False

    def give(self):
        self._tokens.put(None)


def work(jobs, free, s):
    """One thread: serve the connections handed to it, one at a time, until it is handed None."""
    while True:
        conn = jobs.get()
        if conn is None:
            return
        try:
            serve_connection(conn, s)
        except Exception:
            log("serving a connection failed:\n" + traceback.format_exc())
        finally:
            free.give()


def overdue(s, request_timeout):
    """Answer 504 to the requests that have run longer than request_timeout, and take their connections from
    them; return what they were, for the log."""
    late = []
    now = time.monotonic()
    with s.inflight_lock:
        for r in s.inflight.values():
            if r.abandoned or now - r.start <= request_timeout:
                continue
            r.abandoned = True
            late.append("%s has run %.3fs" % (r.what, now - r.start))
            r.guard.abandon(error_response(504, "Gateway Timeout", "the request ran for more than the request "
                                                                   "timeout of %gs" % request_timeout))
            try:
                r.conn.shutdown(socket.SHUT_WR)  # the front end sees the end of the response now
            except OSError:
                pass
    return late


def serve(listener, app, o, beat, interval):
    """Run the daemon until it is told to stop, or must restart: T threads serve, and this one (the main
    thread) takes a connection from the listener each time a thread is free, beats, watches the requests'
    time and watches for signals."""
    stopping = []

    def stop(signum, frame):
        stopping.append(signal.Signals(signum).name)

    # A signal must wake the poll() below at once: Python runs the handler, then would go back to waiting.
    # set_wakeup_fd makes the signal also write a byte to a pipe that poll() watches.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    # Non-blocking, so that a connection another daemon took first (they all watch the same socket) makes
    # accept() fail at once rather than wait for the next one.
    listener.setblocking(False)
    poller = select.poll()
    poller.register(listener, select.POLLIN)
    poller.register(wake_r, select.POLLIN)

    s = Settings(app, o.threads > 1, o.processes > 1, o.queue_timeout, {})
    jobs = queue.SimpleQueue()
    free = Free(o.threads)
    workers = [threading.Thread(target=work, args=(jobs, free, s), daemon=True) for _ in range(o.threads)]
    for w in workers:
        w.start()

    # The main thread wakes for the next beat, and often enough to see a request pass --request-timeout.
    watch = min(interval, o.request_timeout / 4) if o.request_timeout else interval
    if not beat(b"R"):
        stopping.append("the master is gone")
    next_beat = time.monotonic() + interval
    accepted = 0
    while not stopping:
        wake = min(next_beat, time.monotonic() + watch)
        # Take a connection only when a thread is free to serve it; until then it waits in the backlog.
        if free.take(timeout=max(0, wake - time.monotonic())):
            if accept_one(poller, listener, wake_r, jobs, o.socket_timeout, wake):
                accepted += 1
                if o.maximum_requests and accepted >= o.maximum_requests:
                    stopping.append("served --maximum-requests %d" % o.maximum_requests)
            else:
                free.give()
        if o.request_timeout:
            late = overdue(s, o.request_timeout)
            if late:
                log("request timeout: %s, more than --request-timeout %gs: answered 504; restarting"
                    % ("; ".join(late), o.request_timeout))
                stopping.append("a request ran past --request-timeout")
        if time.monotonic() >= next_beat:
            if not beat(b"."):
                stopping.append("the master is gone")
            next_beat = time.monotonic() + interval

    log("stopping (%s): finishing the requests in flight" % stopping[0])
    for _ in workers:
        jobs.put(None)
    # A thread whose request was abandoned may never return: Python cannot stop a thread. The others get
    # --shutdown-timeout; then the process exits, and takes the stuck ones with it.
    deadline = time.monotonic() + o.shutdown_timeout
    for w in workers:
        while w.is_alive() and time.monotonic() < deadline:
            with s.inflight_lock:
                r = s.inflight.get(w.ident)
            if r is not None and r.abandoned:
                break
            w.join(timeout=0.05)
    stuck = [w for w in workers if w.is_alive()]
    if stuck:
        log("stopped, leaving %d request%s unfinished" % (len(stuck), "" if len(stuck) == 1 else "s"))
        sys.stderr.flush()
        os._exit(0)  # interpreter shutdown could wait on a thread stuck in C code
    log("stopped")


def accept_one(poller, listener, wake_r, jobs, timeout, deadline):
    """Wait until deadline for a connection or a signal; hand a connection to the free thread. Report whether
    a connection was handed over."""
    wait_ms = max(0, int((deadline - time.monotonic()) * 1000))
    ready = dict(poller.poll(wait_ms))
    if wake_r in ready:
        try:
            os.read(wake_r, 512)
        except BlockingIOError:
            pass
    if listener.fileno() not in ready:
        return False
    try:
        conn, _ = listener.accept()
    except (BlockingIOError, InterruptedError, ConnectionAbortedError):
        return False  # another daemon took it
    conn.settimeout(timeout or None)  # 0: no limit (socket.settimeout(0) would make it non-blocking)
    jobs.put(conn)
    return True


def from_master(environ):
    """The contract with the master (chapter 4), all in one place: return the inherited listening socket, a
    beat function that writes to the heartbeat pipe and reports whether the master is still there, and the
    interval between beats in seconds."""
    listener = socket.socket(fileno=int(environ["PREFORK_FD"]))
    pipe = int(environ["PREFORK_HEARTBEAT_FD"]) if environ.get("PREFORK_HEARTBEAT_FD") else None
    interval = int(environ.get("PREFORK_BEAT_MS", "1000")) / 1000
    parent = os.getppid()  # the master, unless it died before this line: then only the pipe tells
    if pipe is not None:
        os.set_blocking(pipe, False)  # a master slow to read must not stop this loop: the beat is skipped

    def beat(what):
        if os.getppid() != parent:  # the master died and this process was given to another parent
            return False
        if pipe is None:
            return True
        try:
            os.write(pipe, what)
        except BlockingIOError:
            pass
        except BrokenPipeError:  # nobody reads the pipe: the master is gone
            return False
        return True

    return listener, beat, interval


def bind(path, backlog):
    """A listening UNIX socket at path, for a daemon run by hand."""
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(backlog)
    return listener


def load(spec):
    """The WSGI callable named by spec, "module:callable" (as gunicorn and uWSGI name it); the current folder
    is searched first, as gunicorn does."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError("%r is not module:callable (for example testapp:app)" % spec)
    sys.path.insert(0, os.getcwd())
    obj = importlib.import_module(module)
    for attr in name.split("."):
        obj = getattr(obj, attr)
    if not callable(obj):
        raise TypeError("%s is not callable" % spec)
    return obj


def log(msg):
    sys.stderr.write("daemon %d: %s\n" % (os.getpid(), msg))
    sys.stderr.flush()


def main(argv):
    parser = argparse.ArgumentParser(prog="daemon.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("app", help="the WSGI callable, as module:callable")
    parser.add_argument("--threads", type=int, default=4, help="threads that serve requests (default 4)")
    parser.add_argument("--processes", type=int, default=1,
                        help="daemon processes the master runs, for wsgi.multiprocess (default 1)")
    parser.add_argument("--bind", metavar="PATH", help="listen on a UNIX socket of its own at PATH")
    parser.add_argument("--backlog", type=int, default=128, help="its backlog, with --bind (default 128)")
    parser.add_argument("--socket-timeout", type=float, default=60,
                        help="seconds a read or write on a connection may take (default 60, as mod_wsgi's)")
    parser.add_argument("--queue-timeout", type=float, default=0,
                        help="seconds a request may wait for a thread; beyond, 504 without running the app "
                             "(default 0: no limit)")
    parser.add_argument("--request-timeout", type=float, default=0,
                        help="seconds a request may run; beyond, 504 and the daemon restarts (default 0: no limit)")
    parser.add_argument("--maximum-requests", type=int, default=0,
                        help="requests after which the daemon restarts (default 0: never)")
    parser.add_argument("--shutdown-timeout", type=float, default=5,
                        help="seconds the requests in flight get when the daemon stops (default 5)")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.processes < 1:
        parser.error("--threads and --processes must be at least 1")
    if min(args.queue_timeout, args.request_timeout, args.maximum_requests, args.shutdown_timeout) < 0:
        parser.error("the timeouts and --maximum-requests cannot be negative")
    if args.bind:
        listener, beat, interval = bind(args.bind, args.backlog), (lambda what: True), 1.0
    elif "PREFORK_FD" in os.environ:
        listener, beat, interval = from_master(os.environ)
    else:
        parser.error("no socket: run me from the master (PREFORK_FD) or give --bind PATH")
    try:
        app = load(args.app)
    except Exception:
        log("cannot load %s:\n%s" % (args.app, traceback.format_exc()))
        return 4
    log("serving %s with %d threads (worker %s)" % (args.app, args.threads, os.environ.get("PREFORK_WORKER") or "0"))
    serve(listener, app, args, beat, interval)
    if args.bind:
        os.unlink(args.bind)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
