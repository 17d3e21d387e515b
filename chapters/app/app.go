// Package app is the test application: the gateway.App that every chapter's server runs and that the grader
// drives. Each route exercises one thing a server must get right.
//
//	GET  /hello                          "Hello, World!\n"
//	POST /echo (or PUT)                  the request body back, with its Content-Type
//	GET  /env                            the environ as JSON, keys sorted
//	GET  /sleep?ms=N                     waits N ms without using the CPU, then "slept N ms\n"
//	GET  /cpu?ms=N                       burns N ms of CPU, then "burned N ms\n"
//	GET  /counter                        increments the shared counter and returns its new value, "N\n"
//	GET  /stream?chunks=N&bytes=M&ms=D   N chunks of M bytes, D ms apart, streamed (sent chunked)
//	GET  /big?bytes=N                    N bytes with a Content-Length, produced 64 KiB at a time
//	GET  /pid                            {"pid":P,"worker":"W"}
//	GET  /error                          the app returns an error (the server answers 500)
//	GET  /panic                          the app panics (the gateway answers 500)
//	GET  /crash                          the process exits at once with status 3
//	GET  /stats                          the gauge as JSON; /stats?reset=1 also resets it
//
// Every GET route also answers HEAD. Other paths get 404; a known path with the wrong method gets 405 with an
// Allow header. Text bodies are text/plain, JSON ones application/json; both end with a newline.
//
// The ms, chunks and bytes parameters are integers from 0; /stream's ms may be left out (it is then 0), the
// others may not. A missing or malformed parameter gets 400; one above its cap is lowered to the cap and the
// response says what was done: ms up to 60000, chunks up to 100000, bytes up to 1 MiB per /stream chunk and
// 1 GiB for /big. The bodies of /stream and /big are the letters 'a' to 'z' repeated from the first byte of
// the body on, so that a client can check that nothing was lost or reordered.
//
// The gauge at /stats counts calls of the app and the bodies it returned that the server closed. A call is in
// flight from the moment the app is entered until its body is closed (or until the app returns without a
// body, on an error or a panic), so a slow /sleep or a long /stream counts for as long as it runs. Calls to
// /stats itself are left out, so that watching the gauge does not move it.
//
// The app uses only the standard library, and nothing that imports package net: the event-driven chapter
// links it into a server that must not use net.
package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"course/chapters/gateway"
)

// Caps on the query parameters: no request can keep a server busy or make it send data without bound.
const (
	maxMillis    = 60000
	maxChunks    = 100000
	maxChunkSize = 1 << 20
	maxBig       = 1 << 30
)

// bigChunk is the size of the chunks /big produces.
const bigChunk = 64 << 10

// Options configures the application.
type Options struct {
	// Worker is the worker id that /pid shows; "" means "0".
	Worker string
	// Counter is the data /counter increments, shared by every call of the app. Nil means a new
	// NewLockedCounter; a chapter on data races injects a racy one.
	Counter Counter
}

// New returns the test application, which may be called from any number of goroutines at once. Each call of
// New returns an application with its own gauge and, unless opts.Counter is set, its own counter.
func New(opts Options) gateway.App {
	a := &app{worker: opts.Worker, counter: opts.Counter}
	if a.worker == "" {
		a.worker = "0"
	}
	if a.counter == nil {
		a.counter = NewLockedCounter()
	}
	return a.serve
}

// app is the state the calls of one application share.
type app struct {
	worker  string
	counter Counter
	gauge   gauge
}

// handler serves one route.
type handler func(a *app, env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error)

// route is a path of the application: the methods it allows and what serves it.
type route struct {
	allow string // the value of the Allow header, listing the methods
	serve handler
}

// getOrHead is the Allow value of a GET route: every GET route also answers HEAD.
const getOrHead = "GET, HEAD"

var routes = map[string]route{
	"/hello":   {getOrHead, (*app).hello},
	"/echo":    {"POST, PUT", (*app).echo},
	"/env":     {getOrHead, (*app).environ},
	"/sleep":   {getOrHead, (*app).sleep},
	"/cpu":     {getOrHead, (*app).cpu},
	"/counter": {getOrHead, (*app).count},
	"/stream":  {getOrHead, (*app).stream},
	"/big":     {getOrHead, (*app).big},
	"/pid":     {getOrHead, (*app).pid},
	"/error":   {getOrHead, (*app).fail},
	"/panic":   {getOrHead, (*app).panics},
	"/crash":   {getOrHead, (*app).crash},
	"/stats":   {getOrHead, (*app).stats},
}

// serve is the gateway.App: it routes the request and keeps the gauge.
func (a *app) serve(env *gateway.Environ, start gateway.StartResponse) (body gateway.Body, err error) {
	path := env.Get("PATH_INFO")
	if path == "/stats" {
		return a.dispatch(path, env, start)
	}
	a.gauge.enter()
	defer func() {
		// Also runs on a panic, which leaves body nil: the call is over all the same.
		if body == nil {
			a.gauge.leave()
			return
		}
		body = a.gauge.track(body)
	}()
	return a.dispatch(path, env, start)
}

// dispatch calls the handler of path, or answers 404 or 405.
func (a *app) dispatch(path string, env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	rt, ok := routes[path]
	if !ok {
		return text(start, "404 Not Found", fmt.Sprintf("404 not found: %s\n", path))
	}
	method := env.Get("REQUEST_METHOD")
	if !hasMethod(rt.allow, method) {
		msg := fmt.Sprintf("405 method %s not allowed on %s (allowed: %s)\n", method, path, rt.allow)
		return text(start, "405 Method Not Allowed", msg, gateway.Header{Name: "Allow", Value: rt.allow})
	}
	return rt.serve(a, env, start)
}

// hasMethod reports whether the Allow value allow lists method.
func hasMethod(allow, method string) bool {
	for m := range strings.SplitSeq(allow, ", ") {
		if m == method {
			return true
		}
	}
	return false
}

func (a *app) hello(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	return text(start, "200 OK", "Hello, World!\n")
}

// echo sends the request body back. A read error is returned as it is: it may carry the status the server
// should answer with, such as 413 when the body is larger than the server accepts.
func (a *app) echo(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	body, err := io.ReadAll(env.Input)
	if err != nil {
		return nil, err
	}
	ct := env.Get("CONTENT_TYPE")
	if ct == "" {
		ct = "application/octet-stream"
	}
	if err := start("200 OK", []gateway.Header{{Name: "Content-Type", Value: ct}}); err != nil {
		return nil, err
	}
	return gateway.Bytes(body), nil
}

func (a *app) environ(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	return jsonBody(start, env.Map()) // encoding/json sorts the keys of a map
}

// sleep waits without using the CPU, as an app waiting on a database or another service does.
func (a *app) sleep(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	ms, err := intParam(env, "ms", -1, maxMillis)
	if err != nil {
		return badRequest(start, err)
	}
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return text(start, "200 OK", fmt.Sprintf("slept %d ms\n", ms))
}

// cpu keeps a CPU busy, as an app computing its answer does: it must not sleep, or an event loop running it
// would not be blocked, which is what the event-driven chapter shows.
func (a *app) cpu(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	ms, err := intParam(env, "ms", -1, maxMillis)
	if err != nil {
		return badRequest(start, err)
	}
	burn(time.Duration(ms) * time.Millisecond)
	return text(start, "200 OK", fmt.Sprintf("burned %d ms\n", ms))
}

// burn spins for d, doing a little arithmetic between looks at the clock.
func burn(d time.Duration) uint64 {
	x := uint64(1)
	for t0 := time.Now(); time.Since(t0) < d; {
		for range 1000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	return x
}

func (a *app) count(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	return text(start, "200 OK", fmt.Sprintf("%d\n", a.counter.Add(1)))
}

// stream sends its body as it makes it, one chunk at a time: the gateway cannot know its length, so an
// HTTP/1.1 server sends it chunked.
func (a *app) stream(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	n, err := intParam(env, "chunks", -1, maxChunks)
	if err != nil {
		return badRequest(start, err)
	}
	size, err := intParam(env, "bytes", -1, maxChunkSize)
	if err != nil {
		return badRequest(start, err)
	}
	ms, err := intParam(env, "ms", 0, maxMillis)
	if err != nil {
		return badRequest(start, err)
	}
	if err := start("200 OK", []gateway.Header{{Name: "Content-Type", Value: "text/plain; charset=utf-8"}}); err != nil {
		return nil, err
	}
	var i int64
	next := func() ([]byte, error) {
		if i == n {
			return nil, io.EOF
		}
		if i > 0 {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		chunk := letters(i*size, size)
		i++
		return chunk, nil
	}
	return gateway.Func(next, nil), nil
}

// big sends a large body with a Content-Length, made a chunk at a time so that its size in memory stays
// small whatever its length.
func (a *app) big(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	n, err := intParam(env, "bytes", -1, maxBig)
	if err != nil {
		return badRequest(start, err)
	}
	err = start("200 OK", []gateway.Header{
		{Name: "Content-Type", Value: "text/plain; charset=utf-8"},
		{Name: "Content-Length", Value: strconv.FormatInt(n, 10)},
	})
	if err != nil {
		return nil, err
	}
	var sent int64
	next := func() ([]byte, error) {
		if sent == n {
			return nil, io.EOF
		}
		chunk := letters(sent, min(n-sent, bigChunk))
		sent += int64(len(chunk))
		return chunk, nil
	}
	return gateway.Func(next, nil), nil
}

func (a *app) pid(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	return jsonBody(start, struct {
		PID    int    `json:"pid"`
		Worker string `json:"worker"`
	}{os.Getpid(), a.worker})
}

func (a *app) fail(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	return nil, errors.New("app: GET /error fails on purpose")
}

func (a *app) panics(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	panic("app: GET /panic panics on purpose")
}

// crash ends the process the way a crashing worker does: at once, with nothing flushed or closed.
func (a *app) crash(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	fmt.Fprintln(env.Errors, "app: GET /crash: exiting with status 3")
	os.Exit(3)
	return nil, errors.New("app: GET /crash: the process did not exit")
}

// stats shows the gauge; with reset=1 it shows it and then resets it.
func (a *app) stats(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	q, err := url.ParseQuery(env.Get("QUERY_STRING"))
	if err != nil {
		return badRequest(start, fmt.Errorf("bad query string: %v", err))
	}
	s := a.gauge.read(q.Get("reset") == "1")
	s.Counter = a.counter.Value()
	return jsonBody(start, s)
}

// intParam returns the integer query parameter name, lowered to max if it is larger. A missing parameter is
// def, or an error if def is negative.
func intParam(env *gateway.Environ, name string, def, max int64) (int64, error) {
	q, err := url.ParseQuery(env.Get("QUERY_STRING"))
	if err != nil {
		return 0, fmt.Errorf("bad query string: %v", err)
	}
	if !q.Has(name) {
		if def < 0 {
			return 0, fmt.Errorf("missing parameter %s (want %s=N, N from 0 to %d)", name, name, max)
		}
		return def, nil
	}
	v := q.Get(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-") {
			return max, nil
		}
		return 0, fmt.Errorf("bad parameter %s=%q (want an integer from 0 to %d)", name, v, max)
	}
	return min(n, max), nil
}

// pattern holds the letters 'a' to 'z' repeated, long enough that a chunk of bigChunk bytes can start at any
// letter.
var pattern = func() []byte {
	p := make([]byte, bigChunk+26)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}()

// letters returns n bytes of a body made of 'a' to 'z' repeated, from offset off in that body. Chunks up to
// bigChunk are read-only slices of pattern: /big sends a gigabyte without allocating it.
func letters(off, n int64) []byte {
	if n <= bigChunk {
		s := off % 26
		return pattern[s : s+n : s+n]
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte((off+int64(i))%26)
	}
	return b
}

// text starts a plain-text response.
func text(start gateway.StartResponse, status, body string, extra ...gateway.Header) (gateway.Body, error) {
	h := append([]gateway.Header{{Name: "Content-Type", Value: "text/plain; charset=utf-8"}}, extra...)
	if err := start(status, h); err != nil {
		return nil, err
	}
	return gateway.Bytes([]byte(body)), nil
}

// jsonBody starts a JSON response with v.
func jsonBody(start gateway.StartResponse, v any) (gateway.Body, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if err := start("200 OK", []gateway.Header{{Name: "Content-Type", Value: "application/json"}}); err != nil {
		return nil, err
	}
	return gateway.Bytes(b, []byte("\n")), nil
}

// badRequest answers 400, saying what was wrong with the request.
func badRequest(start gateway.StartResponse, err error) (gateway.Body, error) {
	return text(start, "400 Bad Request", fmt.Sprintf("400 bad request: %v\n", err))
}
