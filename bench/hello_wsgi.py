"""A minimal WSGI app for bench/prefork.sh: GET /pid answers the worker's pid, anything else Hello, World!

Standard library only, so that Debian's gunicorn runs it as it is.
"""

import os


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/pid":
        body = ('{"pid":%d}\n' % os.getpid()).encode()
        ctype = "application/json"
    else:
        body = b"Hello, World!\n"
        ctype = "text/plain; charset=utf-8"
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]
