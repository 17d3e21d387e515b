"""A small Flask application, to show that the course's daemon runs a real framework's WSGI application.

    python3 daemon.py --bind /tmp/flask.sock flaskapp:app

Flask comes from Debian (apt-get install python3-flask), so run it with Debian's /usr/bin/python3.
"""

import threading

from flask import Flask, jsonify, redirect, request, url_for

app = Flask(__name__)

# Flask runs a view on whatever thread the server gives it: data shared between requests needs a lock, as in
# any threaded server.
visits_lock = threading.Lock()
visits = 0


@app.get("/")
def index():
    return "Hello from Flask!\n", {"Content-Type": "text/plain; charset=utf-8"}


@app.get("/hello/<name>")
def hello(name):
    """A route with a parameter; the answer shows what the server told the app about itself."""
    global visits
    with visits_lock:
        visits += 1
        n = visits
    return jsonify(greeting="Hello, %s!" % name, visits=n,
                   multithread=request.environ["wsgi.multithread"],
                   multiprocess=request.environ["wsgi.multiprocess"])


@app.post("/echo")
def echo():
    """The JSON body back, parsed and encoded again by Flask."""
    return jsonify(request.get_json())


@app.get("/old")
def old():
    """A redirect: 302 and a Location header, which the front end passes on."""
    return redirect(url_for("index"))


@app.get("/boom")
def boom():
    """An exception in a view: Flask catches it and answers 500 itself."""
    raise RuntimeError("boom")
