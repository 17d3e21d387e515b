"""Tests of the Python test application and of the daemon's SCGI reader, standard library only:

    python3 -m unittest discover -s chapters/wsgi

The Go tests of this folder run these too (TestPython), and check the rest across the hop: the daemon as the
master starts it, and the agreement of the two test applications.
"""

import io
import os
import sys
import unittest
import warnings
import wsgiref.handlers
import wsgiref.util
import wsgiref.validate

import daemon
import testapp


def call(app, method, target, body=b"", **headers):
    """Run app for one request in this process, through wsgiref's validator and a wsgiref handler, and return
    the status, the headers and the body it wrote."""
    path, _, query = target.partition("?")
    environ = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
               "CONTENT_LENGTH": str(len(body)), "SERVER_PROTOCOL": "HTTP/1.1"}
    wsgiref.util.setup_testing_defaults(environ)
    for name, value in headers.items():
        environ["HTTP_" + name.upper()] = value
    out, err = io.BytesIO(), io.StringIO()
    handler = wsgiref.handlers.SimpleHandler(io.BytesIO(body), out, err, environ, multithread=True)
    handler.error_body = b"500 Internal Server Error\n"
    handler.run(wsgiref.validate.validator(app))
    head, _, body = out.getvalue().partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 1)[1]
    fields = dict(line.split(": ", 1) for line in lines[1:])
    return status, fields, body, err.getvalue()


class ValidateTest(unittest.TestCase):
    """Every route, through wsgiref.validate: PEP 3333's rules for the app (and for the server that calls it)."""

    def setUp(self):
        self.app = testapp.App(worker="3")
        warnings.simplefilter("error", wsgiref.validate.WSGIWarning)
        self.addCleanup(warnings.resetwarnings)

    def test_routes(self):
        tests = [
            ("GET", "/hello", b"", "200 OK", b"Hello, World!\n"),
            ("HEAD", "/hello", b"", "200 OK", b"Hello, World!\n"),
            ("POST", "/echo", b"ping", "200 OK", b"ping"),
            ("PUT", "/echo", b"", "200 OK", b""),
            ("GET", "/sleep?ms=1", b"", "200 OK", b"slept 1 ms\n"),
            ("GET", "/cpu?ms=1", b"", "200 OK", b"burned 1 ms\n"),
            ("GET", "/counter", b"", "200 OK", b"1\n"),
            ("GET", "/stream?chunks=3&bytes=2", b"", "200 OK", b"abcdef"),
            ("GET", "/stream?chunks=2&bytes=0", b"", "200 OK", b""),
            ("GET", "/big?bytes=70000", b"", "200 OK", (testapp.ALPHABET * 2700)[:70000]),
            ("GET", "/pid", b"", "200 OK", b'{"pid":%d,"worker":"3"}\n' % os.getpid()),
            ("GET", "/error", b"", "500 Internal Server Error", b"500 Internal Server Error\n"),
            ("GET", "/panic", b"", "500 Internal Server Error", b"500 Internal Server Error\n"),
            ("GET", "/nope", b"", "404 Not Found", b"404 not found: /nope\n"),
            ("POST", "/hello", b"x", "405 Method Not Allowed",
             b"405 method POST not allowed on /hello (allowed: GET, HEAD)\n"),
            ("GET", "/sleep", b"", "400 Bad Request",
             b"400 bad request: missing parameter ms (want ms=N, N from 0 to 60000)\n"),
            ("GET", "/stats", b"", "200 OK",
             b'{"inflight":0,"max_inflight":1,"calls":16,"closes":14,"counter":1}\n'),
        ]
        for method, target, body, want_status, want_body in tests:
            with self.subTest(request=method + " " + target):
                status, _, got, err = call(self.app, method, target, body)
                self.assertEqual(want_status, status)
                self.assertEqual(want_body, got)
                self.assertNotIn("AssertionError", err)

    def test_env(self):
        status, fields, body, _ = call(self.app, "GET", "/env?a=<b>", X_TEST="caf\xc3\xa9 \xff")
        self.assertEqual("200 OK", status)
        self.assertEqual("application/json", fields["Content-Type"])
        self.assertIn(b'"HTTP_X_TEST":"caf\xc3\xa9 \\ufffd"', body)
        self.assertIn(b'"QUERY_STRING":"a=\\u003cb\\u003e"', body)
        self.assertIn(b'"wsgi.multithread":"true","wsgi.run_once":"false"', body)
        self.assertNotIn(b"wsgi.input", body)


class GoWaysTest(unittest.TestCase):
    """The helpers that copy Go's standard library, on the cases where Python's own would differ."""

    def test_go_quote(self):
        tests = [("abc", '"abc"'), ('a"b\\c', '"a\\"b\\\\c"'), ("\n\x00\x7f", '"\\n\\x00\\x7f"'),
                 ("caf\xc3\xa9", '"caf\xc3\xa9"'), ("\xe2\x82", '"\\xe2\\x82"'), ("\xc2\xa0", '"\\u00a0"')]
        for native, want in tests:
            self.assertEqual(want, testapp.go_quote(native))

    def test_parse_query(self):
        self.assertEqual({"a": ["1", "x y"], "b": [""]}, testapp.parse_query({"QUERY_STRING": "a=1&a=x+y&&b"}))
        tests = [("a=%zz", 'invalid URL escape "%zz"'), ("a=%2", 'invalid URL escape "%2"'),
                 ("a=1;b=2", "invalid semicolon separator in query"),
                 ("x=%zz&a=1;", "invalid semicolon separator in query"),
                 ("a=1;&x=%zz", "invalid semicolon separator in query")]
        for query, want in tests:
            with self.assertRaises(testapp.BadRequest) as cm:
                testapp.parse_query({"QUERY_STRING": query})
            self.assertEqual("bad query string: " + want, str(cm.exception))

    def test_int_param(self):
        env = {"QUERY_STRING": "a=%2B5&b=99999999999999999999&c=1_0&d=-0&e=%205"}
        self.assertEqual(5, testapp.int_param(env, "a", -1, 10))
        self.assertEqual(10, testapp.int_param(env, "b", -1, 10))
        self.assertEqual(0, testapp.int_param(env, "d", -1, 10))
        self.assertEqual(7, testapp.int_param(env, "z", 7, 10))
        for name in ("c", "e"):
            with self.assertRaises(testapp.BadRequest):
                testapp.int_param(env, name, -1, 10)


class ReadRequestTest(unittest.TestCase):
    """The daemon's SCGI reader; its refusals are checked against the Go package's by TestDaemonRefuses."""

    def test_spec_example(self):
        raw = (b"70:CONTENT_LENGTH\x0027\x00SCGI\x001\x00REQUEST_METHOD\x00POST\x00"
               b"REQUEST_URI\x00/deepthought\x00,What is the answer to life?")
        rfile = io.BufferedReader(io.BytesIO(raw))
        environ, length = daemon.read_request(rfile)
        self.assertEqual({"CONTENT_LENGTH": "27", "REQUEST_METHOD": "POST", "REQUEST_URI": "/deepthought"},
                         environ)
        body = daemon.Input(rfile, length)
        self.assertEqual(b"What is", body.read(7))
        self.assertEqual([b" the answer to life?"], body.readlines())
        self.assertEqual(b"", body.read())

    def test_native_strings(self):
        raw = b"41:CONTENT_LENGTH\x000\x00SCGI\x001\x00PATH_INFO\x00/caf\xc3\xa9\x00,"
        environ, _ = daemon.read_request(io.BufferedReader(io.BytesIO(raw)))
        self.assertEqual("/caf\xc3\xa9", environ["PATH_INFO"], "each byte one character, as PEP 3333 says")

    def test_eof(self):
        with self.assertRaises(EOFError):
            daemon.read_request(io.BufferedReader(io.BytesIO(b"")))

    def test_short_body(self):
        body = daemon.Input(io.BufferedReader(io.BytesIO(b"abc")), 5)
        with self.assertRaises(ConnectionError):
            body.read()


if __name__ == "__main__":
    sys.exit(unittest.main())
