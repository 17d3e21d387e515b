package specs

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"course/grader/spec"
	"course/harness"
)

// readme1 is the chapter 1 README, to which each spec points.
const readme1 = "chapters/01-blocking/README.md"

// maxBody1 is the -max-body the chapter 1 server is started with.
const maxBody1 = 1 << 20

func chapter1() *Chapter {
	return &Chapter{
		Number: 1,
		Slug:   "01-blocking",
		Title:  "blocking",
		Flags:  flags1(),
		// The reference answers to chapter 1's steps: the listening socket and the accept loop (launch), the
		// request reader and its pieces, and the request loop (http1).
		Reference: []string{"launch.Listen(", "launch.Accept(", "http1.ReadRequest(", "http1.ReadRequestLine(",
			"http1.ParseRequestLine(", "http1.ReadHeader(", "http1.ParseField(", "http1.CheckHost(",
			"http1.BodyLength(", "http1.LengthBody(", "http1.ChunkedBody(", "http1.ParseChunkSize(",
			".ServeConn(", ".HTTP1("},
		Specs: append(correctness1(blockingFlags), headOfLine1),
	}
}

// flags1 returns the flags of the chapter 1 server, which the correctness specs of every chapter expect:
// short timeouts, so that grading is quick, and the body limit that 1.17 tests.
func flags1() []string {
	return []string{"-header-timeout", "1s", "-idle-timeout", "1s", "-max-body", strconv.Itoa(maxBody1)}
}

// blockingFlags are the wsgi.* flags in the environ of a server that runs one request at a time, in one
// process.
var blockingFlags = map[string]string{"wsgi.multithread": "false", "wsgi.multiprocess": "false"}

// correctness1 returns the specs of chapter 1 that every later server must pass too. wsgi holds the wsgi.*
// flags that spec 1.11 expects in the environ; a later chapter, whose architecture changes them, passes nil
// and checks them in a spec of its own.
func correctness1(wsgi map[string]string) []spec.Spec {
	environHint := "PATH_INFO is the percent-decoded path, QUERY_STRING the raw query; each header becomes HTTP_NAME (repeated ones joined with \", \") except Content-Type and Content-Length."
	if wsgi != nil {
		environHint += " A blocking server runs one request at a time: wsgi.multithread and wsgi.multiprocess are false."
	}
	return []spec.Spec{
		{
			ID: "1.1", Title: "GET /hello is answered", Points: 2,
			Why:   readme1 + "#the-accept-loop",
			Hint:  "the server must accept a connection, read the request and answer it, then stay up for the next connection (in chapter 1: the accept loop in serve, then serveConn reading with readRequest and answering with http1.Answer, which calls the app and writes and flushes the response).",
			Repro: "curl -i http://{addr}/hello",
			Check: checkHello,
		},
		{
			ID: "1.2", Title: "header names are case-insensitive, values trimmed", Points: 2,
			Why:   readme1 + "#parsing-the-request",
			Hint:  "compare header names case-insensitively (\"host\" is Host), and strip the spaces and tabs around a value (RFC 9112 section 5.1).",
			Repro: "printf 'GET /env HTTP/1.1\\r\\nhost: {host}\\r\\nx-mixed-CASE: one\\r\\nX-Spaces:   two words  \\r\\nX-Tabs:\\tthree\\t\\r\\n\\r\\n' | nc {host} {port}",
			Check: checkHeaderSyntax,
		},
		{
			ID: "1.3", Title: "an HTTP/1.1 request needs exactly one Host", Points: 1,
			Why:   readme1 + "#parsing-the-request",
			Hint:  "answer 400 to an HTTP/1.1 request without a Host header, or with more than one (RFC 9112 section 3.2).",
			Repro: "printf 'GET /hello HTTP/1.1\\r\\n\\r\\n' | nc {host} {port}",
			Check: checkHost,
		},
		{
			ID: "1.4", Title: "a body framed by Content-Length", Points: 2,
			Why:   readme1 + "#framing-the-body",
			Hint:  "read exactly Content-Length bytes of body, whatever they contain (CR LF included), and not one more: the next byte starts the next request.",
			Repro: "curl -i --data-binary $'line one\\r\\n\\r\\nGET /hello HTTP/1.1\\r\\n' http://{addr}/echo",
			Check: checkContentLength,
		},
		{
			ID: "1.5", Title: "a chunked body, with extensions and trailers", Points: 3, Timeout: 8 * time.Second,
			Why:   readme1 + "#framing-the-body",
			Hint:  "read hex size lines (ignore what follows a ';'), the data, its CRLF, up to the 0-size chunk; then read the trailer fields up to the empty line (RFC 9112 section 7.1).",
			Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n5;name=value\\r\\nHello\\r\\n0\\r\\nX-Trailer: one\\r\\n\\r\\n' | nc {host} {port}",
			Check: checkChunked,
		},
		{
			ID: "1.6", Title: "pipelined requests are answered in order", Points: 2,
			Why:   readme1 + "#keep-alive",
			Hint:  "three requests can arrive in one read: keep the bytes after one request buffered (a bufio.Reader per connection, not one per request) and answer each in turn.",
			Repro: "printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\nPOST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: 5\\r\\n\\r\\nfirstGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
			Check: checkPipelined,
		},
		{
			ID: "1.7", Title: "keep-alive: several requests on one connection", Points: 2,
			Why:   readme1 + "#keep-alive",
			Hint:  "after a response, go back to reading the next request on the same connection; HTTP/1.1 keeps a connection open unless a side says Connection: close.",
			Repro: "curl -v http://{addr}/hello http://{addr}/hello   # look for \"Re-using existing connection\"",
			Check: checkKeepAlive,
		},
		{
			ID: "1.8", Title: "Connection: close is honoured", Points: 1,
			Why:   readme1 + "#keep-alive",
			Hint:  "when the request says Connection: close, answer with Connection: close and close the connection after the response.",
			Repro: "printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\nConnection: close\\r\\n\\r\\n' | nc {host} {port}",
			Check: checkConnectionClose,
		},
		{
			ID: "1.9", Title: "HTTP/1.0 closes unless asked to keep alive", Points: 2,
			Why:   readme1 + "#keep-alive",
			Hint:  "HTTP/1.0 closes after each response unless the request says Connection: keep-alive, and then only if the response has a Content-Length (an HTTP/1.0 client cannot read chunked).",
			Repro: "printf 'GET /hello HTTP/1.0\\r\\n\\r\\n' | nc {host} {port}",
			Check: checkHTTP10,
		},
		{
			ID: "1.10", Title: "HEAD: the headers of GET, no body", Points: 2,
			Why:   readme1 + "#framing-the-body",
			Hint:  "answer HEAD with the status and headers GET would have, Content-Length included, and send no body bytes: the client would read them as the next response.",
			Repro: "curl -I http://{addr}/hello",
			Check: checkHead,
		},
		{
			ID: "1.11", Title: "the environ of the gateway interface", Points: 3,
			Why:   readme1 + "#the-gateway",
			Hint:  environHint,
			Repro: "curl -s -H 'X-Repeated: one' -H 'X-Repeated: two' 'http://{addr}/%65nv?x=1&y=a%20b&z=%2F'",
			Check: checkEnviron(wsgi),
		},
		{
			ID: "1.12", Title: "an app failure is a 500, and the server goes on", Points: 1,
			Why:   readme1 + "#the-gateway",
			Hint:  "when the app fails, answer 500 Internal Server Error, log the error, and keep serving: one bad request must not take the server down.",
			Repro: "curl -i http://{addr}/error; curl -i http://{addr}/hello",
			Check: checkAppError,
		},
		{
			ID: "1.13", Title: "malformed requests get 400 and a close", Points: 2, Timeout: 10 * time.Second,
			Why:   readme1 + "#parsing-the-request",
			Hint:  "answer a request you cannot parse with 400 and Connection: close, then close: after a parse error the server cannot tell where the next request starts.",
			Repro: "printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\nX-Space : value\\r\\n\\r\\n' | nc {host} {port}",
			Check: checkMalformed,
		},
		{
			ID: "1.14", Title: "a request line over 8 KiB gets 414", Points: 1,
			Why:   readme1 + "#limits",
			Hint:  "stop reading a request line after 8 KiB and answer 414 URI Too Long; never buffer a line without a bound.",
			Repro: "curl -i http://{addr}/$(head -c 9000 /dev/zero | tr '\\0' a)",
			Check: checkLongLine,
		},
		{
			ID: "1.15", Title: "more than 100 header fields get 431", Points: 1,
			Why:   readme1 + "#limits",
			Hint:  "count the header fields as you read them and answer 431 Request Header Fields Too Large past 100.",
			Repro: "(printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n'; for i in $(seq 150); do printf 'X-Field-%d: 1\\r\\n' $i; done; printf '\\r\\n') | nc {host} {port}",
			Check: checkManyHeaders,
		},
		{
			ID: "1.16", Title: "a header section over 8 KiB gets 431", Points: 1,
			Why:   readme1 + "#limits",
			Hint:  "add up the bytes of the header lines as you read them and answer 431 Request Header Fields Too Large past 8 KiB.",
			Repro: "(printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n'; for i in $(seq 20); do printf 'X-Big-%d: %0500d\\r\\n' $i 0; done; printf '\\r\\n') | nc {host} {port}",
			Check: checkBigHeaders,
		},
		{
			ID: "1.17", Title: "a body over -max-body gets 413", Points: 2, Timeout: 15 * time.Second,
			Why:   readme1 + "#limits",
			Hint:  "refuse a Content-Length over -max-body with 413 before reading the body; count the bytes of a chunked body as you decode it and answer 413 when it goes over.",
			Repro: "head -c 1500000 /dev/zero | curl -i -H 'Transfer-Encoding: chunked' --data-binary @- http://{addr}/echo",
			Check: checkBodyLimit,
		},
		{
			ID: "1.18", Title: "an unknown Transfer-Encoding gets 501", Points: 1,
			Why:   readme1 + "#framing-the-body",
			Hint:  "chunked is the only transfer coding a server must know; answer 501 Not Implemented to any other, since the body cannot be framed.",
			Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nTransfer-Encoding: frobnicate, chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n0\\r\\n\\r\\n' | nc {host} {port}",
			Check: checkUnknownCoding,
		},
		{
			ID: "1.19", Title: "Content-Length with Transfer-Encoding gets 400", Points: 2,
			Why:   readme1 + "#request-smuggling",
			Hint:  "a request with both Content-Length and Transfer-Encoding is how requests are smuggled past a proxy: answer 400 and close (RFC 9112 section 6.3).",
			Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: 5\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\nGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
			Check: checkSmuggling,
		},
		{
			ID: "1.20", Title: "two different Content-Lengths get 400", Points: 1,
			Why:   readme1 + "#request-smuggling",
			Hint:  "Content-Length headers that disagree make the body's end ambiguous: answer 400 and close (RFC 9110 section 8.6).",
			Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: 5\\r\\nContent-Length: 6\\r\\n\\r\\nhello!' | nc {host} {port}",
			Check: checkTwoLengths,
		},
		{
			ID: "1.21", Title: "an idle keep-alive connection is closed", Points: 2, Timeout: 8 * time.Second,
			Why:   readme1 + "#timeouts",
			Hint:  "while waiting for the next request on a kept-alive connection, set a read deadline of -idle-timeout, and close the connection when it passes.",
			Repro: "(printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n'; sleep 5) | nc {host} {port}   # the server should hang up after -idle-timeout",
			Check: checkIdleTimeout,
		},
		{
			ID: "1.22", Title: "a slowloris client is cut off", Points: 2, Timeout: 10 * time.Second,
			Why:   readme1 + "#timeouts",
			Hint:  "the header timeout is a deadline for the whole request head, set once when its first byte arrives, not a timeout per read: a client sending a byte every 200 ms never trips a per-read timeout.",
			Repro: "time (printf 'GET /hello HTTP/1.1\\r\\n'; for i in $(seq 30); do printf 'X-Slow-%d: x\\r\\n' $i; sleep 0.2; done) | nc {host} {port}   # nothing printed; with -header-timeout 1s it must end after about 1 s, not 6",
			Check: checkSlowloris,
		},
		{
			ID: "1.23", Title: "a client that stops mid-body is cut off", Points: 1, Timeout: 10 * time.Second,
			Flags: []string{"-body-timeout", "1s"},
			Why:   readme1 + "#timeouts",
			Hint:  "set a read deadline of -body-timeout before reading the body: a client that stops sending it must not hold the connection (and, in a blocking server, everyone else) forever.",
			Repro: "(printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: 1000\\r\\n\\r\\nonly ten b'; sleep 5) | nc {host} {port}   # with -body-timeout 1s",
			Check: checkBodyTimeout,
		},
		{
			ID: "1.24", Title: "a client that stops reading is cut off", Points: 1, Timeout: 15 * time.Second,
			Flags: []string{"-body-timeout", "1s", "-write-timeout", "1s"},
			Why:   readme1 + "#timeouts",
			Hint:  "set a write deadline of -write-timeout before writing the response: a client that stops reading fills the socket buffers and blocks the write forever.",
			Repro: "(printf 'GET /big?bytes=16777216 HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n'; sleep 5) | nc {host} {port} | (sleep 4; wc -c)   # with -body-timeout 1s -write-timeout 1s: far fewer bytes than asked",
			Check: checkSlowReader,
		},
	}
}

// headOfLine1 measures head-of-line blocking. It is informational in chapter 1, where a blocking server
// cannot do better, and is not run by later chapters, which have specs of their own for concurrency.
var headOfLine1 = spec.Spec{
	ID: "1.25", Title: "head-of-line blocking (measured)", Points: 1, Timeout: 8 * time.Second,
	Why:   readme1 + "#head-of-line-blocking",
	Hint:  "both requests must get their 200; how long the second waits is the lesson of this chapter, not a failure.",
	Repro: "curl -s -o /dev/null -w '%{time_total}s\\n' 'http://{addr}/sleep?ms=300' & curl -s -o /dev/null -w '%{time_total}s\\n' 'http://{addr}/sleep?ms=300'; wait",
	Check: checkHeadOfLine,
}

const hello = "Hello, World!\n"

func checkHello(t *spec.T) {
	c := t.Dial()
	req := get("/hello")
	r := roundTrip(t, c, req, `HTTP/1.1 200 OK with "Content-Length: 14" and the body "Hello, World!\n"`)
	wantStatus(t, r, req, 200)
	wantHeader(t, r, req, "Content-Length", strconv.Itoa(len(hello)))
	wantBody(t, r, req, hello)
}

func checkHeaderSyntax(t *spec.T) {
	c := t.Dial()
	req := "GET /env HTTP/1.1\r\n" +
		"host: 127.0.0.1\r\n" +
		"x-mixed-CASE: one\r\n" +
		"X-Spaces:   two words  \r\n" +
		"X-Tabs:\tthree\t\r\n" +
		"\r\n"
	r := roundTrip(t, c, req, "200 OK (\"host\" is the Host header) and an environ with the values trimmed")
	wantStatus(t, r, req, 200)
	want := map[string]string{
		"HTTP_HOST":         "127.0.0.1",
		"HTTP_X_MIXED_CASE": "one",
		"HTTP_X_SPACES":     "two words",
		"HTTP_X_TABS":       "three",
	}
	t.Diff(firstLine(req)+": unexpected values among the HTTP_* keys of the environ", want, pick(environ(t, r, req), keys(want)))
}

func checkHost(t *spec.T) {
	cases := []struct{ name, req string }{
		{"no Host", "GET /hello HTTP/1.1\r\nUser-Agent: grader\r\n\r\n"},
		{"two Host headers", "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: example.com\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *spec.T) {
			r := roundTrip(t, t.Dial(), tc.req, "400 Bad Request")
			wantStatus(t, r, tc.req, 400)
		})
	}
}

func checkContentLength(t *spec.T) {
	c := t.Dial()
	var b strings.Builder
	// CRLFs, something that looks like a request, and every byte value: the body is bytes, not lines.
	b.WriteString("line one\r\n\r\nGET /hello HTTP/1.1\r\n\r\n")
	for i := range 256 {
		b.WriteByte(byte(i))
	}
	body := b.String()
	req := request("POST", "/echo", body, "Content-Type: application/octet-stream", "Content-Length: "+strconv.Itoa(len(body)))
	r := roundTrip(t, c, req, fmt.Sprintf("200 OK with the %d bytes of the body echoed", len(body)))
	wantStatus(t, r, req, 200)
	if !wantBody(t, r, req, body) {
		return
	}

	// The body must have been read exactly: the next request on the connection is answered normally.
	empty := request("POST", "/echo", "", "Content-Length: 0")
	r = roundTrip(t, c, empty, "200 OK with an empty body, on the same connection")
	wantStatus(t, r, empty, 200)
	wantBody(t, r, empty, "")
	next := get("/hello")
	r = roundTrip(t, c, next, "200 OK with \"Hello, World!\\n\", on the same connection")
	wantStatus(t, r, next, 200)
	wantBody(t, r, next, hello)
	if t.Failed() {
		return
	}

	// A body cut short by the client is a bad request, not a shorter body.
	c = t.Dial()
	short := request("POST", "/echo", "", "Content-Length: 10") + "abc"
	t.Expect(short+" (then the client shuts down its side)", "", "a 400: the connection ended 7 bytes before the end of the body")
	if err := c.SendString(short); err != nil {
		t.Fatalf("%s: %v", firstLine(short), err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatalf("%s: shutting down the sending side: %v", firstLine(short), err)
	}
	r, err := c.ReadResponse(answerWait, false)
	if err != nil {
		t.Fatalf("%s, then the end of the stream: %v", firstLine(short), err)
	}
	if r.Status != 400 {
		t.Fatalf("%s with 3 bytes of body, then the end of the stream: got %s with body %q, want 400 Bad Request: "+
			"a body that ends before its Content-Length is incomplete, not shorter", firstLine(short), status(r), r.Body)
	}
}

// chunk is one chunk of a chunked body: its data and the extension after its size.
type chunk struct{ data, ext string }

// chunked encodes chunks with the sizes in upper-case hex, then the trailer lines.
func chunked(chunks []chunk, trailers ...string) string {
	var b strings.Builder
	for _, c := range chunks {
		fmt.Fprintf(&b, "%X%s\r\n%s\r\n", len(c.data), c.ext, c.data)
	}
	b.WriteString("0\r\n")
	for _, tr := range trailers {
		b.WriteString(tr + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func checkChunked(t *spec.T) {
	c := t.Dial()
	chunks := []chunk{
		{"Hello", ";name=value"},
		{", chunked world", `;quoted="a;b"`},
		{"\r\n0\r\n\r\n", ""}, // data that looks like the last chunk
		{"abcdefghijklmnopqrstuvwxyz", ""},
	}
	var want strings.Builder
	for _, ch := range chunks {
		want.WriteString(ch.data)
	}
	req := request("POST", "/echo", chunked(chunks, "X-Trailer: one", "X-Other: two"), "Transfer-Encoding: chunked")
	r := roundTrip(t, c, req, "200 OK with the decoded body echoed: "+strconv.Quote(want.String()))
	wantStatus(t, r, req, 200)
	if !wantBody(t, r, req, want.String()) {
		return
	}

	// The trailers must have been read: the next request on the connection is answered normally.
	next := get("/hello")
	r = roundTrip(t, c, next, "200 OK with \"Hello, World!\\n\", on the same connection")
	wantStatus(t, r, next, 200)
	wantBody(t, r, next, hello)

}

func checkPipelined(t *spec.T) {
	c := t.Dial()
	reqs := []string{
		get("/hello"),
		request("POST", "/echo", "first", "Content-Length: 5"),
		request("POST", "/echo", chunked([]chunk{{"second", ""}}), "Transfer-Encoding: chunked"),
	}
	all := strings.Join(reqs, "")
	send(t, c, all, "three responses, in order: \"Hello, World!\\n\", \"first\", \"second\"")
	rs, err := c.ReadResponses(len(reqs), answerWait)
	if err != nil {
		t.Expect(all, string(c.Buffered()), "three responses, in order")
		t.Fatalf("three requests sent in one write: %d responses came back, then: %v", len(rs), err)
	}
	var raw strings.Builder
	var bodies []string
	for _, r := range rs {
		raw.Write(r.Raw)
		bodies = append(bodies, string(r.Body))
	}
	t.Expect(all, raw.String(), "three responses, in order")
	t.Diff("the bodies of the three responses are wrong or out of order", []string{hello, "first", "second"}, bodies)
	wantQuiet(t, c, "the three responses")
}

func checkKeepAlive(t *spec.T) {
	c := t.Dial()
	for i := range 5 {
		req, body := get("/hello"), hello
		if i%2 == 1 {
			body = fmt.Sprintf("request %d", i+1)
			req = request("POST", "/echo", body, "Content-Length: "+strconv.Itoa(len(body)))
		}
		r := roundTrip(t, c, req, fmt.Sprintf("request %d of 5 on one connection answered, and the connection kept open", i+1))
		wantStatus(t, r, req, 200)
		wantBody(t, r, req, body)
		wantKeptOpen(t, r, req)
		if t.Failed() {
			return
		}
	}
	wantQuiet(t, c, "five requests on one connection")
}

func checkConnectionClose(t *spec.T) {
	c := t.Dial()
	req := get("/hello", "Connection: close")
	r := roundTrip(t, c, req, "200 OK with Connection: close, then the server closes the connection")
	wantStatus(t, r, req, 200)
	wantBody(t, r, req, hello)
	wantClose(t, c, r, req)
}

func checkHTTP10(t *spec.T) {
	t.Run("without Connection", func(t *spec.T) {
		c := t.Dial()
		req := "GET /hello HTTP/1.0\r\n\r\n"
		r := roundTrip(t, c, req, "200 OK, then the server closes the connection")
		wantStatus(t, r, req, 200)
		wantBody(t, r, req, hello)
		if r.HasToken("Connection", "keep-alive") {
			t.Errorf("%s: the response says Connection: keep-alive, but the client did not ask for it", firstLine(req))
		}
		if err := c.ExpectClosed(closeWait); err != nil {
			t.Errorf("%s: an HTTP/1.0 connection closes after the response unless the client asks to keep it: %v", firstLine(req), err)
		}
	})
	t.Run("with Connection: keep-alive", func(t *spec.T) {
		c := t.Dial()
		req := "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
		r := roundTrip(t, c, req, "200 OK; then either Connection: keep-alive and a Content-Length, or a close")
		wantStatus(t, r, req, 200)
		wantBody(t, r, req, hello)
		if r.Chunked {
			t.Fatalf("%s: the response is chunked, which an HTTP/1.0 client cannot read", firstLine(req))
		}
		if !r.HasToken("Connection", "keep-alive") {
			if err := c.ExpectClosed(closeWait); err != nil {
				t.Errorf("%s: the response does not say Connection: keep-alive, so the client waits for the close, but: %v", firstLine(req), err)
			}
			return
		}
		if r.Get("Content-Length") == "" {
			t.Errorf("%s: the response keeps the connection alive without a Content-Length, so the client cannot tell where the body ends", firstLine(req))
		}
		next := "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
		r = roundTrip(t, c, next, "a second 200 OK on the kept-alive connection")
		wantStatus(t, r, next, 200)
		wantBody(t, r, next, hello)
	})
}

func checkHead(t *spec.T) {
	c := t.Dial()
	getReq := get("/hello")
	g := roundTrip(t, c, getReq, "200 OK")
	wantStatus(t, g, getReq, 200)

	headReq := request("HEAD", "/hello", "")
	h := roundTrip(t, c, headReq, "the status and headers of GET /hello, Content-Length: 14 included, and no body")
	wantStatus(t, h, headReq, 200)
	for _, name := range []string{"Content-Length", "Content-Type"} {
		if want := g.Get(name); h.Get(name) != want {
			t.Errorf("%s: %s is %q, but GET says %q: HEAD must send the headers GET would", firstLine(headReq), name, h.Get(name), want)
		}
	}
	if err := c.ExpectQuiet(quietWait); err != nil {
		if len(c.Buffered()) > 0 {
			t.Fatalf("after the HEAD response: %v; a HEAD response has no body: the client reads the bytes after its headers as the next response", err)
		}
		t.Fatalf("after the HEAD response: %v", err)
	}
	r := roundTrip(t, c, getReq, "200 OK on the same connection after the HEAD")
	wantStatus(t, r, getReq, 200)
	wantBody(t, r, getReq, hello)
}

// checkEnviron returns the check of spec 1.11, which expects the wsgi.* flags in wsgi (none if nil).
func checkEnviron(wsgi map[string]string) func(t *spec.T) {
	return func(t *spec.T) {
		_, port := splitPort(t.Addr())
		t.Run("request variables", func(t *spec.T) {
			// /%65nv is /env percent-encoded: the app only finds its route if PATH_INFO is decoded.
			req := "GET /%65nv?x=1&y=a%20b&z=%2F HTTP/1.1\r\n" +
				"Host: 127.0.0.1:" + port + "\r\n" +
				"X-Repeated: one\r\n" +
				"User-Agent: grader\r\n" +
				"X-Repeated: two\r\n" +
				"\r\n"
			r := roundTrip(t, t.Dial(), req, "200 OK and the environ as JSON")
			wantStatus(t, r, req, 200)
			want := map[string]string{
				"REQUEST_METHOD":  "GET",
				"SCRIPT_NAME":     "",
				"PATH_INFO":       "/env",
				"QUERY_STRING":    "x=1&y=a%20b&z=%2F",
				"SERVER_NAME":     "127.0.0.1",
				"SERVER_PORT":     port,
				"SERVER_PROTOCOL": "HTTP/1.1",
				"HTTP_HOST":       "127.0.0.1:" + port,
				"HTTP_USER_AGENT": "grader",
				"HTTP_X_REPEATED": "one, two",
				"wsgi.url_scheme": "http",
			}
			maps.Copy(want, wsgi)
			t.Diff(firstLine(req)+": unexpected values among the environ keys checked", want, pick(environ(t, r, req), keys(want)))
		})
		t.Run("a request with a body", func(t *spec.T) {
			req := request("GET", "/env", "a=1&b=2", "Content-Type: application/x-www-form-urlencoded", "Content-Length: 7")
			r := roundTrip(t, t.Dial(), req, "200 OK and an environ with CONTENT_TYPE and CONTENT_LENGTH, not HTTP_CONTENT_*")
			wantStatus(t, r, req, 200)
			env := environ(t, r, req)
			want := map[string]string{
				"CONTENT_TYPE":        "application/x-www-form-urlencoded",
				"CONTENT_LENGTH":      "7",
				"HTTP_CONTENT_TYPE":   "(missing)",
				"HTTP_CONTENT_LENGTH": "(missing)",
			}
			t.Diff(firstLine(req)+": unexpected values among the environ keys checked", want, pick(env, keys(want)))
		})
		t.Run("a space in the path", func(t *spec.T) {
			req := get("/no%20such%20page")
			r := roundTrip(t, t.Dial(), req, "404 Not Found, naming the decoded path \"/no such page\"")
			wantStatus(t, r, req, 404)
			if !strings.Contains(string(r.Body), "/no such page") {
				t.Errorf("%s: the app saw the path %q, want it decoded: \"/no such page\"", firstLine(req), strings.TrimSpace(string(r.Body)))
			}
		})
	}
}

// splitPort returns the host and port of "host:port".
func splitPort(addr string) (host, port string) {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}

func checkAppError(t *spec.T) {
	c := t.Dial()
	req := get("/error")
	r := roundTrip(t, c, req, "500 Internal Server Error")
	wantStatus(t, r, req, 500)
	c.Close() // a blocking server would wait on it before taking the next connection

	next := get("/hello")
	r = roundTrip(t, t.Dial(), next, "200 OK on a new connection: the server survived the app's failure")
	wantStatus(t, r, next, 200)
	wantBody(t, r, next, hello)
}

func checkMalformed(t *spec.T) {
	// CRLFs after the garbage make sure the server has whole lines to refuse, not a line it waits to finish.
	garbage := string(harness.Garbage(256, t.Seed())) + "\r\n\r\n"
	cases := []struct{ name, req string }{
		{fmt.Sprintf("garbage bytes (seed %d)", t.Seed()), garbage},
		{"a request line without a version", "GET /hello\r\n" + hostHeader + "\r\n"},
		{"a bad version", "GET /hello HTTP/1.x\r\n" + hostHeader + "\r\n"},
		{"a header line without a colon", "GET /hello HTTP/1.1\r\n" + hostHeader + "X-No-Colon value\r\n\r\n"},
		{"a space before the colon", "GET /hello HTTP/1.1\r\n" + hostHeader + "X-Space : value\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *spec.T) {
			c := t.Dial()
			r := roundTrip(t, c, tc.req, "400 Bad Request (or another 4xx) with Connection: close, then the close")
			wantClientError(t, r, tc.req)
			wantClose(t, c, r, tc.req)
		})
	}
	t.Run("the server still serves", func(t *spec.T) {
		req := get("/hello")
		r := roundTrip(t, t.Dial(), req, "200 OK after the malformed requests")
		wantStatus(t, r, req, 200)
	})
}

// refused sends req on a new connection and checks that the answer is code. If the server then closes the
// connection, the answer must have said so.
func refused(t *spec.T, req string, code int, want string) {
	c := t.Dial()
	r := roundTrip(t, c, req, want)
	wantStatus(t, r, req, code)
	closeSaysSo(t, c, r, req)
}

func checkLongLine(t *spec.T) {
	req := get("/" + strings.Repeat("a", 9000))
	refused(t, req, 414, "414 URI Too Long")
}

func checkManyHeaders(t *spec.T) {
	var hs []string
	for i := range 150 {
		hs = append(hs, fmt.Sprintf("X-Field-%d: 1", i+1))
	}
	// 151 fields in about 2 KiB: over the count limit, under the size limit.
	refused(t, get("/hello", hs...), 431, "431 Request Header Fields Too Large (151 fields, over the limit of 100)")
}

func checkBigHeaders(t *spec.T) {
	var hs []string
	for i := range 20 {
		hs = append(hs, fmt.Sprintf("X-Big-%d: %s", i+1, strings.Repeat("0", 500)))
	}
	// 21 fields in about 10 KiB: under the count limit, over the size limit.
	refused(t, get("/hello", hs...), 431, "431 Request Header Fields Too Large (about 10 KiB of headers, over the limit of 8 KiB)")
}

func checkBodyLimit(t *spec.T) {
	t.Run("by Content-Length", func(t *spec.T) {
		c := t.Dial()
		req := request("POST", "/echo", "", fmt.Sprintf("Content-Length: %d", 2*maxBody1))
		send(t, c, req, "413 Content Too Large at once, before any body byte is sent")
		r, err := c.ReadResponse(answerWait, false)
		var re *harness.ReadError
		if errors.As(err, &re) && re.Timeout() && len(re.Got) == 0 {
			t.Fatalf("%s: no answer within %v: the server seems to wait for the body; compare Content-Length with -max-body (%d) before reading it",
				firstLine(req), answerWait, maxBody1)
		}
		if err != nil {
			t.Fatalf("%s: %v", firstLine(req), err)
		}
		t.Expect(req, string(r.Raw), "413 Content Too Large")
		wantStatus(t, r, req, 413)
		closeSaysSo(t, c, r, req)
	})
	t.Run("chunked", func(t *spec.T) {
		c := t.Dial()
		head := request("POST", "/echo", "", "Transfer-Encoding: chunked")
		// Read while sending: the server may answer and close before it has read all, and the bytes
		// still on their way then make its kernel reset the connection.
		type answer struct {
			r   *harness.Response
			err error
		}
		answered := make(chan answer, 1)
		go func() {
			r, err := c.ReadResponse(10*time.Second, false)
			answered <- answer{r, err}
		}()
		data := strings.Repeat("x", 64<<10)
		piece := fmt.Sprintf("%X\r\n%s\r\n", len(data), data)
		total := 0
		err := c.SendString(head)
		for ; err == nil && total < 3*maxBody1/2; total += len(data) {
			err = c.SendString(piece)
		}
		if err == nil {
			err = c.SendString("0\r\n\r\n")
		}
		want := fmt.Sprintf("413 Content Too Large once the body passes -max-body (%d bytes)", maxBody1)
		a := <-answered
		sent := fmt.Sprintf("%s%X\r\nxxxx... (%d chunks of %d bytes)", head, len(data), total/len(data), len(data))
		if a.err != nil {
			t.Expect(sent, "", want)
			if err != nil {
				t.Fatalf("%s with a %d-byte chunked body: sending stopped (%v), and no 413 came: %v", firstLine(head), 3*maxBody1/2, err, a.err)
			}
			t.Fatalf("%s with a %d-byte chunked body: %v", firstLine(head), 3*maxBody1/2, a.err)
		}
		t.Expect(sent, string(a.r.Raw), want)
		wantStatus(t, a.r, head, 413)
	})
}

func checkUnknownCoding(t *spec.T) {
	req := request("POST", "/echo", chunked([]chunk{{"hello", ""}}), "Transfer-Encoding: frobnicate, chunked")
	refused(t, req, 501, "501 Not Implemented: frobnicate is no transfer coding the server knows")
}

func checkSmuggling(t *spec.T) {
	c := t.Dial()
	// Framed by either header, the body is the empty chunked body "0\r\n\r\n" and a second request
	// follows: a server that answers it has let a request be smuggled in.
	req := request("POST", "/echo", "0\r\n\r\n", "Content-Length: 5", "Transfer-Encoding: chunked") + get("/hello")
	r := roundTrip(t, c, req, "400 Bad Request with Connection: close, then the close, and no answer to the GET after the body")
	wantStatus(t, r, req, 400)
	wantClose(t, c, r, req)
}

func checkTwoLengths(t *spec.T) {
	c := t.Dial()
	req := request("POST", "/echo", "hello!", "Content-Length: 5", "Content-Length: 6")
	r := roundTrip(t, c, req, "400 Bad Request with Connection: close, then the close")
	wantStatus(t, r, req, 400)
	wantClose(t, c, r, req)
}

func checkIdleTimeout(t *spec.T) {
	const tooSoon, tooLate = 500 * time.Millisecond, 3 * time.Second
	c := t.Dial()
	req := get("/hello")
	r := roundTrip(t, c, req, "200 OK, then the close after about 1s (-idle-timeout 1s) without a request")
	wantStatus(t, r, req, 200)
	start := time.Now()
	if err := c.ExpectQuiet(tooSoon); err != nil {
		t.Fatalf("the connection was closed %v after the response (-idle-timeout is 1s): %v",
			time.Since(start).Round(time.Millisecond), err)
	}
	if err := c.ExpectClosed(tooLate - tooSoon); err != nil {
		t.Fatalf("an idle keep-alive connection must be closed after -idle-timeout (1s): %v", err)
	}
	t.Logf("closed %v after the response", time.Since(start).Round(time.Millisecond))
}

func checkSlowloris(t *spec.T) {
	const limit = 3500 * time.Millisecond // -header-timeout is 1s
	c := t.Dial()
	// Two bytes every 200 ms: 10 bytes a second, so the head would take over 20 s to arrive.
	head := "GET /hello HTTP/1.1\r\n" + hostHeader + "X-Slow: " + strings.Repeat("s", 200)
	start := time.Now()
	go c.Trickle([]byte(head), 2, 200*time.Millisecond) // ends when the server closes, or the check does
	t.Expect(head, "", "the server closes the connection (a 408 first is fine) within about 1s")
	r, err := c.ReadResponse(limit, false)
	elapsed := time.Since(start).Round(time.Millisecond)
	var re *harness.ReadError
	switch {
	case err == nil:
		t.Expect(head, string(r.Raw), "no 200: the head never completed")
		if r.Status == 200 {
			t.Fatalf("got 200 OK to a request head that never finished")
		}
		if err := c.ExpectClosed(closeWait); err != nil {
			t.Fatalf("after the %s to the trickling client: %v", status(r), err)
		}
	case errors.As(err, &re) && re.Timeout():
		t.Fatalf("a client sending 2 bytes every 200 ms was still connected after %v: the header timeout (1s) must bound the whole head, not each read", elapsed)
	case errors.As(err, &re):
		// Closed or reset: what a server does to a client that is too slow.
	default:
		t.Fatalf("while trickling the head: %v", err)
	}
	t.Logf("cut off %v after the first byte", elapsed)
}

func checkBodyTimeout(t *spec.T) {
	const limit = 3500 * time.Millisecond // -body-timeout is 1s
	c := t.Dial()
	req := request("POST", "/echo", "only ten b", "Content-Length: 1000")
	send(t, c, req, "the server gives up on the body after about 1s (-body-timeout 1s) and closes the connection; an error response first is fine")
	start := time.Now()
	r, err := c.ReadResponse(limit, false)
	var re *harness.ReadError
	switch {
	case err == nil:
		t.Expect(req, string(r.Raw), "an error response, or none, then the close")
		if r.Status < 400 {
			t.Fatalf("%s with 10 of its 1000 body bytes: got %s, want an error or the close", firstLine(req), status(r))
		}
		if err := c.ExpectClosed(closeWait); err != nil {
			t.Fatalf("after the %s to the stalled body: %v", status(r), err)
		}
	case errors.As(err, &re) && re.Timeout():
		t.Fatalf("a client that sent 10 of 1000 body bytes and stopped was still connected after %v: "+
			"the body must be read under a deadline (-body-timeout 1s)", limit)
	case errors.As(err, &re):
		// Closed or reset without an answer: fine.
	default:
		t.Fatalf("%s: %v", firstLine(req), err)
	}
	t.Logf("cut off %v after the body stalled", time.Since(start).Round(time.Millisecond))
}

func checkSlowReader(t *spec.T) {
	// More than the socket buffers at both ends hold, so that the server's writes block while the
	// client does not read. The stall leaves room for a deadline that covers the body and the response
	// (-body-timeout 1s plus -write-timeout 1s).
	const size, stall = 16 << 20, 4 * time.Second
	c := t.DialSmallBuffer(4096)
	req := get(fmt.Sprintf("/big?bytes=%d", size))
	send(t, c, req, fmt.Sprintf("the server gives up writing after about 1s (-write-timeout 1s) and closes: fewer than the %d bytes asked for arrive", size))
	time.Sleep(stall)
	r, err := c.ReadResponse(5*time.Second, false)
	var re *harness.ReadError
	switch {
	case err == nil && r.Status == 200:
		t.Fatalf("the whole %d-byte body arrived once the client read again after %v: the server waited for the client "+
			"instead of giving up after -write-timeout (1s)", size, stall)
	case err == nil:
		t.Fatalf("%s: got %s, want 200 OK cut short by the server", firstLine(req), status(r))
	case errors.As(err, &re) && re.Timeout():
		t.Fatalf("%s: the response neither finished nor was cut off %v after the client read again", firstLine(req), 5*time.Second)
	case errors.As(err, &re):
		t.Logf("the server cut the response off after %d bytes", len(re.Got))
	default:
		t.Fatalf("%s: %v", firstLine(req), err)
	}
}

func checkHeadOfLine(t *spec.T) {
	const ms = 300
	a, b := t.Dial(), t.Dial()
	req := get(fmt.Sprintf("/sleep?ms=%d", ms), "Connection: close")
	want := fmt.Sprintf("slept %d ms\n", ms)
	type answer struct {
		r    *harness.Response
		err  error
		took time.Duration
	}
	start := time.Now()
	read := func(c *harness.Conn, out chan<- answer) {
		r, err := c.ReadResponse(6*time.Second, false)
		took := time.Since(start)
		c.Close() // as a client does after a Connection: close response, so the server need not linger on it
		out <- answer{r, err, took}
	}
	// B was dialled second, so it is behind A in the listen backlog, but it sends first.
	send(t, b, req, "200 OK")
	send(t, a, req, "200 OK")
	ca, cb := make(chan answer, 1), make(chan answer, 1)
	go read(a, ca)
	go read(b, cb)
	ra, rb := <-ca, <-cb
	for _, x := range []struct {
		name string
		a    answer
	}{{"A", ra}, {"B", rb}} {
		if x.a.err != nil {
			t.Errorf("connection %s: %v", x.name, x.a.err)
			continue
		}
		if x.a.r.Status != 200 || string(x.a.r.Body) != want {
			t.Errorf("connection %s: got %s %q, want 200 OK %q", x.name, status(x.a.r), x.a.r.Body, want)
		}
	}
	if t.Failed() {
		return
	}
	total := max(ra.took, rb.took).Round(time.Millisecond)
	if total >= 2*ms*time.Millisecond*5/6 {
		t.Note(fmt.Sprintf("two requests of %d ms on two connections took %v in all (A %v, B %v): the second connection "+
			"waited in the kernel's accept queue (the listen backlog) while the first was served. Chapter 2 fixes this.",
			ms, total, ra.took.Round(time.Millisecond), rb.took.Round(time.Millisecond)))
	} else {
		t.Note(fmt.Sprintf("two requests of %d ms on two connections took %v in all: they were served at the same time, "+
			"which a blocking server cannot do.", ms, total))
	}
}
