#!/usr/bin/env python3
"""A blocking HTTP/1.1 server in Python, standard library only, that passes chapter 1's specs.

It is chapter 1's architecture in another language: one process serves one connection at a time, reads each
request with deadlines and limits, and calls a WSGI application, the course's test app
(chapters/wsgi/testapp.py). The grader knows a server only by what it does on the wire (grader/README.md is the contract), so this file is
graded as the Go servers are. From the root of the repository:

    make grader
    .grader/grader -chapter 1 -cmd 'python3 grader/testdata/pyserver/server.py --port {port} {flags}'

It favours being short and plain over being fast.
"""

import argparse
import io
import os
import re
import signal
import socket
import sys
import time
from email.utils import formatdate
from urllib.parse import unquote_to_bytes, urlsplit

# The course's test app as a WSGI app, chapters/wsgi/testapp.py: the routes of chapters/app, which
# grader/README.md lists.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "chapters", "wsgi"))
from testapp import app  # noqa: E402

# Limits on a request head, as the course's Go servers have them (RFC 9112 leaves them to the server).
MAX_LINE = 8192  # the request line: longer gets 414
MAX_HEAD = 8192  # the header section: larger gets 431
MAX_FIELDS = 100  # header fields: more get 431
MAX_CHUNK_LINE = 4096

REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           413: "Content Too Large", 414: "URI Too Long", 417: "Expectation Failed",
           431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
           505: "HTTP Version Not Supported"}

TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

stopping = False  # set by SIGTERM: finish the request in flight, then exit


class Refused(Exception):
    """A request the server answers with an error status, then closes the connection."""

    def __init__(self, status, why):
        super().__init__(why)
        self.status = status


class Gone(Exception):
    """The connection ended: the client closed it, a deadline passed, or the server is stopping."""


class Conn:
    """A client connection, read through a buffer so that pipelined requests are kept, with deadlines."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def fill(self, deadline, idle=False):
        """Reads more bytes by the deadline (a monotonic time). While idle, a stop ends the wait."""
        while True:
            if idle and stopping:
                raise Gone("stopping")
            left = deadline - time.monotonic()
            if left <= 0:
                raise Gone("timed out")
            self.sock.settimeout(min(left, 0.2))  # short waits, to notice a stop
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise EOFError
            self.buf += data
            return

    def line(self, limit, deadline, too_long, what):
        """Returns the next line without its CRLF (or bare LF); one over limit bytes is refused too_long."""
        while True:
            end = self.buf.find(b"\n")
            if end >= 0 or len(self.buf) > limit + 1:
                break
            try:
                self.fill(deadline)
            except EOFError:
                if self.buf:
                    raise Refused(400, "connection closed in the middle of the " + what)
                raise
        line = bytes(self.buf[:end]) if end >= 0 else bytes(self.buf)
        if line.endswith(b"\r"):
            line = line[:-1]
        if end < 0 or len(line) > limit:
            raise Refused(too_long, "%s longer than %d bytes" % (what, limit))
        del self.buf[:end + 1]
        return line

    def exact(self, n, deadline):
        """Returns the next n bytes; a connection that closes first is a bad request."""
        while len(self.buf) < n:
            try:
                self.fill(deadline)
            except EOFError:
                raise Refused(400, "connection closed with %d bytes of the body still to come" % (n - len(self.buf)))
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def send(self, data, deadline):
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Gone("write timed out")
            self.sock.settimeout(left)
            try:
                view = view[self.sock.send(view):]
            except socket.timeout:
                raise Gone("write timed out")

    def linger(self):
        """Closes our side, then drops what the client still sends for a moment, so that the kernel does not
        answer unread bytes with a reset that could destroy the response before the client reads it."""
        end = time.monotonic() + 0.5
        try:
            self.sock.shutdown(socket.SHUT_WR)
            while time.monotonic() < end:
                self.sock.settimeout(end - time.monotonic())
                if not self.sock.recv(65536):
                    break
        except (OSError, ValueError):  # a timeout, a reset; ValueError: the time ran out between the lines
            pass


class Request:
    def __init__(self, method, target, minor):
        self.method, self.target, self.minor = method, target, minor
        self.headers = []  # (name, value), as sent
        self.body = b""
        self.chunked = False

    def values(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def has_token(self, name, token):
        """Reports whether a comma-separated header lists token, in any case ("Connection: Keep-Alive, close")."""
        return any(t.strip().lower() == token for v in self.values(name) for t in v.split(","))

    def keep_alive(self):
        if self.has_token("Connection", "close"):
            return False
        return self.minor >= 1 or self.has_token("Connection", "keep-alive")


def read_request(conn, opts, first):
    """Reads a request head and its whole body (RFC 9112). Raises Refused for what the server must refuse."""
    # Wait for the request's first byte: a kept-alive connection may idle this long, a new one no longer
    # than it has to send a whole head.
    if not conn.buf:
        conn.fill(time.monotonic() + (opts.header_timeout if first else opts.idle_timeout), idle=True)
    deadline = time.monotonic() + opts.header_timeout  # for the whole head, not for each read
    line = b""
    for _ in range(4):  # RFC 9112 section 2.2: ignore empty lines before the request line
        line = conn.line(MAX_LINE, deadline, 414, "request line")
        if line:
            break
    parts = line.split(b" ")
    if len(parts) != 3 or not TOKEN.fullmatch(parts[0]) or not re.fullmatch(rb"[!-~]+", parts[1]):
        raise Refused(400, "malformed request line %r" % line[:60])
    version = re.fullmatch(rb"HTTP/(\d)\.(\d)", parts[2])
    if not version:
        raise Refused(400, "bad HTTP version %r" % parts[2][:20])
    if version.group(1) != b"1":
        raise Refused(505, "only HTTP/1.0 and HTTP/1.1 are served")
    req = Request(parts[0].decode(), parts[1].decode(), int(version.group(2)))
    req.headers = read_fields(conn, deadline)
    hosts = len(req.values("Host"))
    if hosts > 1 or hosts == 0 and req.minor >= 1:
        raise Refused(400, "an HTTP/1.1 request has exactly one Host header, this one has %d" % hosts)

    length = body_length(req, opts)
    if req.minor >= 1 and req.values("Expect"):  # RFC 9110 section 10.1.1
        if not req.has_token("Expect", "100-continue"):
            raise Refused(417, "unsupported expectation")
        if length != 0:
            conn.send(b"HTTP/1.1 100 Continue\r\n\r\n", time.monotonic() + opts.write_timeout)
    deadline = time.monotonic() + opts.body_timeout
    if length is not None:
        req.body = conn.exact(length, deadline)
    else:
        req.body = read_chunked(conn, opts, deadline)
    return req


def read_fields(conn, deadline):
    """Reads header (or trailer) fields up to the empty line, within the limits."""
    fields, size = [], 0
    while True:
        line = conn.line(MAX_HEAD, deadline, 431, "header line")
        if not line:
            return fields
        size += len(line) + 2
        if size > MAX_HEAD or len(fields) == MAX_FIELDS:
            raise Refused(431, "more than %d header fields or %d bytes" % (MAX_FIELDS, MAX_HEAD))
        name, colon, value = line.partition(b":")
        if not colon or not TOKEN.fullmatch(name):  # no space before the colon, no folded line
            raise Refused(400, "malformed header line %r" % line[:60])
        value = value.strip(b" \t")
        if re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", value):
            raise Refused(400, "control character in header %r" % name)
        fields.append((name.decode(), value.decode("latin-1")))


def body_length(req, opts):
    """Decides the body's framing (RFC 9112 section 6.3): its length, or None for chunked."""
    te, cl = req.values("Transfer-Encoding"), req.values("Content-Length")
    if te and cl:
        raise Refused(400, "both Transfer-Encoding and Content-Length (request smuggling?)")
    if te:
        codings = [c.strip().lower() for v in te for c in v.split(",")]
        if any(c != "chunked" for c in codings):
            raise Refused(501, "only the chunked transfer coding is supported")
        if req.minor == 0 or len(codings) != 1:
            raise Refused(400, "bad Transfer-Encoding")
        req.chunked = True
        return None
    lengths = {c.strip() for v in cl for c in v.split(",")}
    if not lengths:
        return 0
    # Digits only: "+5" or "-1" would be read differently by another server in the chain.
    if len(lengths) > 1 or not all(re.fullmatch(r"[0-9]{1,18}", n) for n in lengths):
        raise Refused(400, "bad or conflicting Content-Length %s" % sorted(lengths))
    n = int(lengths.pop())
    if n > opts.max_body:
        raise Refused(413, "body of %d bytes is over the limit of %d" % (n, opts.max_body))
    return n


def read_chunked(conn, opts, deadline):
    """Decodes a chunked body (RFC 9112 section 7.1): extensions are ignored, trailers read and dropped."""
    body = bytearray()
    while True:
        line = conn.line(MAX_CHUNK_LINE, deadline, 400, "chunk size line")
        size = line.split(b";")[0].strip(b" \t")
        if not re.fullmatch(rb"[0-9a-fA-F]{1,15}", size):
            raise Refused(400, "bad chunk size %r" % line[:30])
        n = int(size, 16)
        if n == 0:
            read_fields(conn, deadline)  # the trailers
            return bytes(body)
        if len(body) + n > opts.max_body:
            raise Refused(413, "chunked body over the limit of %d bytes" % opts.max_body)
        body += conn.exact(n, deadline)
        if conn.line(0, deadline, 400, "end of a chunk") != b"":
            raise Refused(400, "chunk data longer than its size")


def environ(req, opts, errors):
    """Builds the WSGI environ of PEP 3333 for req."""
    target = req.target
    if not target.startswith("/"):  # the absolute form, "http://host/path"
        url = urlsplit(target)
        if not url.scheme or not url.netloc:
            raise Refused(400, "the request-target must start with /")
        target = (url.path or "/") + ("?" + url.query if url.query else "")
    path, _, query = target.partition("?")
    if re.search(r"%(?![0-9a-fA-F]{2})", path):
        raise Refused(400, "bad percent-encoding in the path")
    env = {
        "REQUEST_METHOD": req.method, "SCRIPT_NAME": "", "QUERY_STRING": query,
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),  # PEP 3333: bytes as latin-1
        "SERVER_NAME": opts.host, "SERVER_PORT": str(opts.port), "SERVER_PROTOCOL": "HTTP/1.%d" % req.minor,
        "CONTENT_TYPE": "", "CONTENT_LENGTH": "" if req.chunked else str(len(req.body)),
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(req.body),
        "wsgi.errors": errors, "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    for name, value in req.headers:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        if key == "CONTENT_LENGTH":
            continue  # set from the body read, above
        env[key] = env[key] + ", " + value if env.get(key) else value
    # RFC 9112 section 3.2.2: the host of an absolute-form target wins over the Host header.
    host = urlsplit(req.target).netloc if not req.target.startswith("/") else env.get("HTTP_HOST")
    if host:
        env["SERVER_NAME"] = host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]
    return env


def respond(conn, req, app, opts):
    """Calls the app and writes its response; returns whether the connection can carry another request."""
    started = {}

    def start_response(status, headers, exc_info=None):
        started["status"], started["headers"] = status, headers

    env = environ(req, opts, sys.stderr)
    body = []
    try:
        body = app(env, start_response)
        # PEP 3333: a body of one piece (len() == 1) has a known length, that of the piece.
        sized = hasattr(body, "__len__") and len(body) == 1
        # Pull the first chunk before sending anything: until then a failure can still be a clean 500.
        chunks = iter(body) if req.method != "HEAD" or sized else iter(())
        first = next((c for c in chunks if c), b"")
    except Exception as e:
        log("app error on %s %s: %r" % (req.method, req.target, e))
        if hasattr(body, "close"):
            body.close()
        keep = req.keep_alive() and not stopping
        send_error(conn, 500, "", keep, req.minor, opts)
        return keep

    keep = req.keep_alive() and not stopping
    head = ["HTTP/1.1 " + started["status"]] + ["%s: %s" % h for h in started["headers"]]
    head.append("Date: " + formatdate(usegmt=True))
    chunked = False
    if not any(n.lower() == "content-length" for n, _ in started["headers"]):
        if sized:
            head.append("Content-Length: %d" % len(first))
        elif req.minor >= 1:
            chunked = req.method != "HEAD"
            if chunked:
                head.append("Transfer-Encoding: chunked")
        else:
            keep = False  # HTTP/1.0 cannot read chunked: the close ends the body
    if not keep:
        head.append("Connection: close")
    elif req.minor == 0:
        head.append("Connection: keep-alive")
    if req.method == "HEAD":
        first = b""  # GET's headers, and no body
    deadline = time.monotonic() + opts.write_timeout
    try:
        out = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        chunk = first
        while chunk:  # the head goes out with the first chunk, in one write
            conn.send(out + (b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk), deadline)
            out, chunk = b"", next((c for c in chunks if c), b"")
        if out:
            conn.send(out, deadline)
        if chunked:
            conn.send(b"0\r\n\r\n", deadline)
    except (Gone, OSError):
        raise
    except Exception as e:  # the app failed mid-body: the response is cut short, the connection closed
        log("app error mid-body on %s %s: %r" % (req.method, req.target, e))
        return False
    finally:
        if hasattr(body, "close"):
            body.close()
    return keep


def send_error(conn, status, why, keep, minor, opts):
    text = "%d %s%s\n" % (status, REASONS[status], ": " + why if why else "")
    head = "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n" % (
        status, REASONS[status], len(text))
    head += "" if keep and minor >= 1 else "Connection: keep-alive\r\n" if keep else "Connection: close\r\n"
    conn.send((head + "\r\n" + text).encode(), time.monotonic() + opts.write_timeout)


def serve_conn(sock, app, opts):
    """Serves the requests of one connection, one after the other, until it must close."""
    conn = Conn(sock)
    try:
        first = True
        while not stopping:
            try:
                if not respond(conn, read_request(conn, opts, first), app, opts):
                    return
            except Refused as e:
                log("refused a request: %d %s" % (e.status, e))
                send_error(conn, e.status, str(e), False, 1, opts)
                conn.linger()
                return
            first = False
    except (Gone, EOFError):
        pass  # closed, idle too long, too slow, or stopping: nothing to answer
    except OSError as e:  # a reset, a broken pipe: that client is gone, the server goes on
        log("connection lost: %s" % e)
    finally:
        sock.close()


def duration(s):
    """Parses a Go duration, as the grader passes them: "1s", "500ms", "1m30s"."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"([0-9.]+)(ns|us|µs|ms|s|m|h)", s)
    if s == "0":
        return 0.0
    if not parts or "".join(a + b for a, b in parts) != s:
        raise argparse.ArgumentTypeError("bad duration %r (want 1s, 500ms, ...)" % s)
    return sum(float(a) * units[b] for a, b in parts)


def log(msg):
    print("pyserver: " + msg, file=sys.stderr, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    # The chapter's flags, as the grader passes them in {flags} (grader/README.md): Go's spelling.
    p.add_argument("-header-timeout", type=duration, default=10.0)
    p.add_argument("-idle-timeout", type=duration, default=15.0)
    p.add_argument("-body-timeout", type=duration, default=30.0)
    p.add_argument("-write-timeout", type=duration, default=30.0)
    p.add_argument("-max-body", type=int, default=1 << 20)
    opts = p.parse_args()

    def stop(signum, frame):
        global stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    listener = socket.create_server((opts.host, opts.port), backlog=128)
    listener.settimeout(0.2)  # to notice a stop between connections
    log("listening on %s:%d" % (opts.host, opts.port))
    while not stopping:
        try:
            sock, _ = listener.accept()
        except socket.timeout:
            continue
        except OSError as e:  # out of file descriptors (EMFILE): passes when a connection closes
            log("accept: %s" % e)
            time.sleep(0.1)
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each write is a whole response, or part
        serve_conn(sock, app, opts)
    listener.close()
    log("stopped")


if __name__ == "__main__":
    main()
