"""The test application as a WSGI application: the routes of the Go app (chapters/app), answered the same way.

    GET  /hello                          "Hello, World!\\n"
    POST /echo (or PUT)                  the request body back, with its Content-Type
    GET  /env                            the environ as JSON, keys sorted
    GET  /sleep?ms=N                     waits N ms without using the CPU, then "slept N ms\\n"
    GET  /cpu?ms=N                       burns N ms of CPU, then "burned N ms\\n"
    GET  /counter                        increments the shared counter and returns its new value, "N\\n"
    GET  /stream?chunks=N&bytes=M&ms=D   N chunks of M bytes, D ms apart, streamed (no Content-Length)
    GET  /big?bytes=N                    N bytes with a Content-Length, produced 64 KiB at a time
    GET  /pid                            {"pid":P,"worker":"W"}
    GET  /error                          the app raises an exception (the server answers 500)
    GET  /panic                          the app raises another one (the server answers 500)
    GET  /crash                          the process exits at once with status 3
    GET  /stats                          the gauge as JSON; /stats?reset=1 also resets it

Every GET route also answers HEAD, other paths get 404, a known path with the wrong method 405 with an Allow
header; the parameters, their caps and the 400 answers are the Go app's (read its package comment). Run it with
the course's daemon, `python3 daemon.py testapp:app`, or with any WSGI server: `gunicorn testapp:app`.

A Go test (agree_test.go) sends the same requests to this app and to the Go app, each behind a daemon, and
compares the answers byte for byte, with the few differences it lists. That is why a few helpers at the end
of this file copy Go's ways: its JSON encoder, its query parser, its quoting of strings in error messages.

Two things are WSGI's own. An app fails by raising: /error and /panic both raise, where the Go app returns
an error and panics. And a call is over when the server calls close() on the iterable the app returned
(PEP 3333), which is what /stats counts as a close: a server that drops a response half sent without calling
close() leaves the call in flight for ever, and /stats shows it.

Standard library only: the daemon runs it on any Python 3.
"""

import json
import os
import re
import threading
import time
import wsgiref.validate

MAX_MILLIS = 60000
MAX_CHUNKS = 100000
MAX_CHUNK_SIZE = 1 << 20
MAX_BIG = 1 << 30
BIG_CHUNK = 64 << 10

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
GET_OR_HEAD = "GET, HEAD"


class Counter:
    """The data /counter shares between requests: every thread of the process may use it at once."""

    def __init__(self):
        self._lock = threading.Lock()
        self._n = 0

    def add(self, n):
        # Without the lock two threads can read the same value and both write it plus one: a lost update.
        with self._lock:
            self._n += n
            return self._n

    def value(self):
        with self._lock:
            return self._n


class Gauge:
    """Counts the calls of the app and how many run at once. A call is in flight from the moment the app is
    entered until the server closes the iterable it returned, or until the app raises."""

    def __init__(self):
        self._lock = threading.Lock()
        self.inflight = self.max_inflight = self.calls = self.closes = 0

    def enter(self):
        with self._lock:
            self.calls += 1
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)

    def leave(self, closed=False):
        with self._lock:
            self.inflight -= 1
            if closed:
                self.closes += 1

    def read(self, reset):
        """Return the gauge; with reset, then set the peak to the calls in flight and the totals to 0."""
        with self._lock:
            shown = {"inflight": self.inflight, "max_inflight": self.max_inflight,
                     "calls": self.calls, "closes": self.closes}
            if reset:
                self.max_inflight, self.calls, self.closes = self.inflight, 0, 0
            return shown


class Tracked:
    """The iterable the app returns: the body, whose close() ends the call in the gauge (once, however many
    times the server calls it)."""

    def __init__(self, body, gauge):
        self._body = body
        self._gauge = gauge
        self._closed = False
        self._lock = threading.Lock()

    def __iter__(self):
        return iter(self._body)

    def close(self):
        try:
            if hasattr(self._body, "close"):
                self._body.close()
        finally:
            with self._lock:
                first, self._closed = not self._closed, True
            if first:
                self._gauge.leave(closed=True)


class SizedTracked(Tracked):
    """A Tracked body that keeps the length of a list body: a server that finds len() == 1 knows the whole body
    and sends a Content-Length (PEP 3333, "Handling the Content-Length Header"), as the Go gateway does for a
    body that knows its length."""

    def __len__(self):
        return len(self._body)


class BadRequest(Exception):
    """A request with a missing or malformed parameter: answered 400 with the reason."""


class App:
    """The test application. One instance is one application: its counter and gauge are shared by every
    thread of the process, and by nothing in other processes."""

    def __init__(self, worker=None):
        # The worker id the master gave this process (the daemon's PREFORK_WORKER), shown by /pid.
        self.worker = worker or os.environ.get("PREFORK_WORKER") or "0"
        self.counter = Counter()
        self.gauge = Gauge()
        self.routes = {
            "/hello": (GET_OR_HEAD, self.hello),
            "/echo": ("POST, PUT", self.echo),
            "/env": (GET_OR_HEAD, self.env),
            "/sleep": (GET_OR_HEAD, self.sleep),
            "/cpu": (GET_OR_HEAD, self.cpu),
            "/counter": (GET_OR_HEAD, self.count),
            "/stream": (GET_OR_HEAD, self.stream),
            "/big": (GET_OR_HEAD, self.big),
            "/pid": (GET_OR_HEAD, self.pid),
            "/error": (GET_OR_HEAD, self.fail),
            "/panic": (GET_OR_HEAD, self.panic),
            "/crash": (GET_OR_HEAD, self.crash),
            "/stats": (GET_OR_HEAD, self.stats),
        }

    def __call__(self, environ, start_response):
        """The WSGI application: route the request and keep the gauge (/stats itself is left out of it, so that
        watching the gauge does not move it)."""
        path = environ.get("PATH_INFO", "")
        if path == "/stats":
            return self.dispatch(path, environ, start_response)
        self.gauge.enter()
        try:
            body = self.dispatch(path, environ, start_response)
        except BaseException:
            self.gauge.leave()  # no body for the server to close: the call is over now
            raise
        return SizedTracked(body, self.gauge) if isinstance(body, list) else Tracked(body, self.gauge)

    def dispatch(self, path, environ, start_response):
        route = self.routes.get(path)
        if route is None:
            return text(start_response, "404 Not Found", "404 not found: %s\n" % path)
        allow, serve = route
        method = environ.get("REQUEST_METHOD", "")
        if method not in allow.split(", "):
            msg = "405 method %s not allowed on %s (allowed: %s)\n" % (method, path, allow)
            return text(start_response, "405 Method Not Allowed", msg, [("Allow", allow)])
        try:
            return serve(environ, start_response)
        except BadRequest as e:
            return text(start_response, "400 Bad Request", "400 bad request: %s\n" % e)

    def hello(self, environ, start_response):
        return text(start_response, "200 OK", "Hello, World!\n")

    def echo(self, environ, start_response):
        body = read_body(environ)
        content_type = environ.get("CONTENT_TYPE") or "application/octet-stream"
        start_response("200 OK", [("Content-Type", content_type)])
        return [body]

    def env(self, environ, start_response):
        return json_body(start_response, shown_environ(environ), sort_keys=True)

    def sleep(self, environ, start_response):
        """Wait without using the CPU, as an app waiting on a database does: other threads run meanwhile."""
        ms = int_param(environ, "ms", -1, MAX_MILLIS)
        time.sleep(ms / 1000)
        return text(start_response, "200 OK", "slept %d ms\n" % ms)

    def cpu(self, environ, start_response):
        """Keep the CPU busy, as an app computing its answer does: in Python it also holds the GIL, so the
        other threads of the process wait, which the daemon's processes are there for."""
        ms = int_param(environ, "ms", -1, MAX_MILLIS)
        burn(ms / 1000)
        return text(start_response, "200 OK", "burned %d ms\n" % ms)

    def count(self, environ, start_response):
        return text(start_response, "200 OK", "%d\n" % self.counter.add(1))

    def stream(self, environ, start_response):
        """Send the body as it is made: a generator has no length, so the server cannot send a Content-Length
        and an HTTP/1.1 front end sends it chunked."""
        n = int_param(environ, "chunks", -1, MAX_CHUNKS)
        size = int_param(environ, "bytes", -1, MAX_CHUNK_SIZE)
        ms = int_param(environ, "ms", 0, MAX_MILLIS)
        start_response("200 OK", [("Content-Type", TEXT)])
        return stream_chunks(n, size, ms)

    def big(self, environ, start_response):
        """A large body with a Content-Length, made a chunk at a time so that its size in memory stays small."""
        n = int_param(environ, "bytes", -1, MAX_BIG)
        start_response("200 OK", [("Content-Type", TEXT), ("Content-Length", str(n))])
        return big_chunks(n)

    def pid(self, environ, start_response):
        return json_body(start_response, {"pid": os.getpid(), "worker": self.worker})

    def fail(self, environ, start_response):
        raise AppError("app: GET /error fails on purpose")

    def panic(self, environ, start_response):
        raise RuntimeError("app: GET /panic panics on purpose")

    def crash(self, environ, start_response):
        """End the process the way a crashing worker does: at once, with nothing flushed or closed."""
        environ["wsgi.errors"].write("app: GET /crash: exiting with status 3\n")
        environ["wsgi.errors"].flush()
        os._exit(3)

    def stats(self, environ, start_response):
        query = parse_query(environ)
        shown = self.gauge.read(query.get("reset", [""])[0] == "1")
        shown["counter"] = self.counter.value()
        return json_body(start_response, shown)


class AppError(Exception):
    """The failure /error raises."""


def read_body(environ):
    """Read the request body: CONTENT_LENGTH bytes, or until the end when the server gave no length (PEP 3333
    says a server may simulate the end of the input; some, for chunked requests, give no length at all)."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH", "")
    left = int(length) if length.isdigit() else -1
    chunks = []
    while left != 0:
        chunk = stream.read(BIG_CHUNK if left < 0 else min(left, BIG_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        if left > 0:
            left -= len(chunk)
    return b"".join(chunks)


def burn(seconds):
    """Spin until this thread has used seconds of CPU, doing a little arithmetic between looks at the clock.
    The thread's own CPU time (time.thread_time), not the wall clock: while it waits for the GIL it does not
    count, so a request costs the same CPU however many threads share the process, as an app's real work does.
    With the wall clock, T threads spinning at once would each do 1/T of the work, and more threads would seem
    to make a CPU-bound app faster."""
    x = 1
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        for _ in range(100):
            x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
    return x


ALPHABET = b"abcdefghijklmnopqrstuvwxyz"
PATTERN = ALPHABET * (BIG_CHUNK // 26 + 2)


def letters(off, n):
    """n bytes of a body made of 'a' to 'z' repeated, from offset off in that body."""
    start = off % 26
    if n <= BIG_CHUNK:
        return PATTERN[start:start + n]
    return (ALPHABET * (n // 26 + 2))[start:start + n]


def stream_chunks(n, size, ms):
    for i in range(n):
        if i > 0 and ms > 0:
            time.sleep(ms / 1000)
        yield letters(i * size, size)


def big_chunks(n):
    sent = 0
    while sent < n:
        chunk = letters(sent, min(n - sent, BIG_CHUNK))
        sent += len(chunk)
        yield chunk


def text(start_response, status, body, extra=()):
    start_response(status, [("Content-Type", TEXT)] + list(extra))
    return [native_bytes(body)]


def json_body(start_response, value, sort_keys=False):
    start_response("200 OK", [("Content-Type", JSON)])
    return [go_json(value, sort_keys) + b"\n"]


def shown_environ(environ):
    """The environ as the Go app shows it (gateway.Environ.Map): every CGI variable, and the wsgi.* flags as
    text. The stream objects (wsgi.input, wsgi.errors, wsgi.file_wrapper) are left out."""
    shown = {key: real_text(value) for key, value in environ.items() if isinstance(value, str)}
    for key in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once"):
        shown[key] = "true" if environ.get(key) else "false"
    shown["wsgi.version"] = "%d.%d" % tuple(environ.get("wsgi.version", (1, 0)))
    return shown


def int_param(environ, name, default, maximum):
    """The integer query parameter name, lowered to maximum if it is larger. A missing parameter is default,
    or a BadRequest if default is negative."""
    query = parse_query(environ)
    if name not in query:
        if default < 0:
            raise BadRequest("missing parameter %s (want %s=N, N from 0 to %d)" % (name, name, maximum))
        return default
    value = query[name][0]
    # As Go's strconv.ParseInt: an optional sign and ASCII digits, nothing else ("1_000" and " 5" are not
    # numbers); a number too large for 64 bits is the cap.
    if re.fullmatch(r"[+-]?[0-9]+", value):
        n = int(value)
        if n >= 1 << 63:
            return maximum
        if n >= 0:
            return min(n, maximum)
    raise BadRequest("bad parameter %s=%s (want an integer from 0 to %d)" % (name, go_quote(value), maximum))


# Speaking like the Go app. Strings in a WSGI environ are "native strings" (PEP 3333): each character is one byte
# of the request, as Latin-1 would decode it. The Go app works on the bytes themselves; these helpers turn the
# one into the other, and do what Go's standard library does with them.

def native_bytes(s):
    """The bytes a native string stands for."""
    return s.encode("latin-1")


def real_text(s):
    """The text a native string holds when its bytes are UTF-8. A byte that is not part of valid UTF-8
    becomes a lone surrogate, U+DC80 to U+DCFF (Python's "surrogateescape"), which go_json and go_quote show as
    Go does."""
    try:
        return native_bytes(s).decode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # not a native string: a server that gave the app real text already
        return s


def go_json(value, sort_keys=False):
    """value in JSON as Go's encoding/json writes it: compact, UTF-8, with <, >, & and the line and paragraph
    separators escaped (so that the JSON can be put in HTML), and the bytes that were not UTF-8 as \\ufffd."""
    out = json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        out = out.replace(char, escaped)
    out = INVALID_BYTE.sub(r"\\ufffd", out)  # Go writes each byte that is not valid UTF-8 as \ufffd
    return out.encode("utf-8")


INVALID_BYTE = re.compile("[\udc80-\udcff]")


class QueryError(BadRequest):
    pass


def parse_query(environ):
    """QUERY_STRING parsed as Go's url.ParseQuery parses it: {name: [values]}, "+" as a space, and the same
    refusals (a bad %-escape, a ";" separator), raised as a BadRequest with Go's message."""
    query = environ.get("QUERY_STRING", "")
    if query.count("&") + 1 > 10000:
        raise QueryError("bad query string: number of URL query parameters exceeded limit")
    values, error = {}, None
    for part in query.split("&"):
        if ";" in part:
            error = "invalid semicolon separator in query"
            continue
        if not part:
            continue
        key, _, value = part.partition("=")
        try:
            key, value = unescape(key), unescape(value)
        except ValueError as e:
            error = error or str(e)
            continue
        values.setdefault(key, []).append(value)
    if error:
        raise QueryError("bad query string: " + error)
    return values


def unescape(s):
    """Decode %XX escapes and "+" in a query component, keeping a native string."""
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "%":
            code = s[i + 1:i + 3]
            if len(code) < 2 or not all(h in "0123456789abcdefABCDEF" for h in code):
                raise ValueError("invalid URL escape " + go_quote(s[i:i + 3]))
            out.append(chr(int(code, 16)))
            i += 3
            continue
        out.append(" " if c == "+" else c)
        i += 1
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
               '"': '\\"', "\\": "\\\\"}


def go_quote(s):
    """A native string quoted as Go's %q quotes its bytes: printable characters as they are, the others
    escaped, each byte that is not valid UTF-8 as \\xNN. The result is a native string too."""
    out = ['"']
    for c in real_text(s):
        n = ord(c)
        if 0xDC80 <= n <= 0xDCFF:  # a byte that was not valid UTF-8
            out.append("\\x%02x" % (n - 0xDC00))
        elif c in _GO_ESCAPES:
            out.append(_GO_ESCAPES[c])
        elif c.isprintable():
            out.append(c)
        elif n < 0x80:
            out.append("\\x%02x" % n)
        elif n < 0x10000:
            out.append("\\u%04x" % n)
        else:
            out.append("\\U%08x" % n)
    out.append('"')
    return "".join(out).encode("utf-8").decode("latin-1")  # back to a native string, as the rest of a message


app = App()

# The same application checked by wsgiref's validator (PEP 3333's rules, for the app and for the server
# that runs it): `python3 daemon.py testapp:validated` runs it.
validated = wsgiref.validate.validator(app)
