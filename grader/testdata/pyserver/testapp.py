"""The course's test application as a WSGI app (PEP 3333): the routes of chapters/app, which grader/README.md
lists, for server.py to serve. An app fails by raising; the server answers 500."""

import json
import os
import re
import time
from urllib.parse import parse_qs

counter = 0
gauge = {"inflight": 0, "max_inflight": 0, "calls": 0, "closes": 0}
LETTERS = bytes(ord("a") + i % 26 for i in range(65536 + 26))


def letters(offset, n):
    """n bytes of 'a' to 'z' repeated, from offset in such a body (n up to 64 KiB)."""
    return LETTERS[offset % 26:offset % 26 + n]


class Tracked:
    """A response body that the gauge counts as in flight until the server closes it."""

    def __init__(self, chunks):
        self.chunks = chunks

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        gauge["inflight"] -= 1
        gauge["closes"] += 1


def param(env, name, default, cap):
    """The integer query parameter name, up to cap; a missing one is default (an error if None)."""
    values = parse_qs(env["QUERY_STRING"], keep_blank_values=True).get(name)
    if not values:
        if default is None:
            raise ValueError("missing parameter %s" % name)
        return default
    if not re.fullmatch(r"[0-9]+", values[0]):
        raise ValueError("bad parameter %s=%r" % (name, values[0]))
    return min(int(values[0]), cap)


def app(env, start_response):
    path, method = env["PATH_INFO"], env["REQUEST_METHOD"]
    if path == "/stats":
        return stats(env, start_response)
    gauge["inflight"] += 1
    gauge["calls"] += 1
    gauge["max_inflight"] = max(gauge["max_inflight"], gauge["inflight"])
    try:
        body = route(env, start_response, path, method)
    except BaseException:
        gauge["inflight"] -= 1
        raise
    return body if isinstance(body, list) else Tracked(body)


def route(env, start_response, path, method):
    global counter
    text = [("Content-Type", "text/plain; charset=utf-8")]
    allow = "POST, PUT" if path == "/echo" else "GET, HEAD"
    routes = ("/hello", "/echo", "/env", "/sleep", "/cpu", "/counter", "/stream", "/big", "/pid", "/error",
              "/panic", "/crash")
    if path not in routes:
        start_response("404 Not Found", text)
        return [b"404 not found: %s\n" % path.encode("latin-1")]
    if method not in allow.split(", "):
        start_response("405 Method Not Allowed", text + [("Allow", allow)])
        return [b"405 method %s not allowed on %s (allowed: %s)\n" % (method.encode(), path.encode(), allow.encode())]
    try:
        if path == "/hello":
            start_response("200 OK", text)
            return [b"Hello, World!\n"]
        if path == "/echo":
            start_response("200 OK", [("Content-Type", env.get("CONTENT_TYPE") or "application/octet-stream")])
            return [env["wsgi.input"].read()]
        if path == "/env":
            shown = {k: v for k, v in env.items() if isinstance(v, str)}
            shown.update({k: str(v).lower() for k, v in env.items() if isinstance(v, bool)})
            shown["wsgi.version"] = "1.0"
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(shown, sort_keys=True, separators=(",", ":")).encode() + b"\n"]
        if path == "/sleep":
            ms = param(env, "ms", None, 60000)
            time.sleep(ms / 1000)
            start_response("200 OK", text)
            return [b"slept %d ms\n" % ms]
        if path == "/cpu":
            ms = param(env, "ms", None, 60000)
            end = time.monotonic() + ms / 1000
            while time.monotonic() < end:
                pass
            start_response("200 OK", text)
            return [b"burned %d ms\n" % ms]
        if path == "/counter":
            counter += 1
            start_response("200 OK", text)
            return [b"%d\n" % counter]
        if path == "/stream":
            n, size, ms = param(env, "chunks", None, 100000), param(env, "bytes", None, 65536), param(env, "ms", 0, 60000)
            start_response("200 OK", text)
            return stream(n, size, ms)
        if path == "/big":
            n = param(env, "bytes", None, 1 << 30)
            start_response("200 OK", text + [("Content-Length", str(n))])
            return (letters(off, min(65536, n - off)) for off in range(0, n, 65536))
        if path == "/pid":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"pid":%d,"worker":"0"}\n' % os.getpid()]
        if path == "/error":
            raise RuntimeError("app: GET /error fails on purpose")
        if path == "/panic":
            raise AssertionError("app: GET /panic panics on purpose")
        print("app: GET /crash: exiting with status 3", file=env["wsgi.errors"], flush=True)
        os._exit(3)
    except ValueError as e:
        start_response("400 Bad Request", text)
        return [b"400 bad request: %s\n" % str(e).encode()]


def stream(n, size, ms):
    for i in range(n):
        if i:
            time.sleep(ms / 1000)
        yield letters(i * size, size)


def stats(env, start_response):
    shown = dict(gauge, counter=counter)
    if parse_qs(env["QUERY_STRING"]).get("reset") == ["1"]:
        gauge.update(max_inflight=gauge["inflight"], calls=0, closes=0)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(shown, separators=(",", ":")).encode() + b"\n"]
