package specs

import (
	"errors"
	"fmt"
	"maps"
	"slices"
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

// maxLine1 is the longest request line the servers take, its CRLF aside (8 KiB).
const maxLine1 = 8 << 10

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
		Specs: append(correctness1(blockingFlags), headOfLine1, shutdownSpec(stopPlan{id: "1.36", why: readme1 + "#keep-alive", idle: 1}), outOfFiles1),
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
			Hint:  "the server must accept a connection, read the request, call the app and send its whole response (flushed: bytes left in a buffer never leave), then stay up for the next connection.",
			Repro: "curl -i http://{addr}/hello",
			Check: checkHello,
		},
		{
			ID: "1.2", Title: "header names are case-insensitive, values trimmed", Points: 2,
			Why:   readme1 + "#parsing-the-request",
			Hint:  "compare header names case-insensitively (\"host\" is Host), strip the spaces and tabs around a value (RFC 9112 section 5.1), split a line at its first colon only (a value may hold colons), accept an empty value, and keep the value's case as sent.",
			Repro: "printf 'GET /env HTTP/1.1\\r\\nhost: {host}\\r\\nx-mixed-CASE: one\\r\\nX-Spaces:   Two Words  \\r\\nX-Tabs:\\tthree\\t\\r\\nX-Time: 12:30:45\\r\\nX-Empty:\\r\\n\\r\\n' | nc {host} {port}",
			Check: checkHeaderSyntax,
		},
		{
			ID: "1.3", Title: "an HTTP/1.1 request needs exactly one Host", Points: 1,
			Why:   readme1 + "#parsing-the-request",
			Hint:  "answer 400 to an HTTP/1.1 request without a Host header, or with more than one (RFC 9112 section 3.2).",
			Repro: "printf 'GET /hello HTTP/1.1\\r\\n\\r\\n' | nc {host} {port}",
			Cases: map[string]spec.Case{
				"no Host": {
					Hint:  "an HTTP/1.1 request without a Host header gets 400 (RFC 9112 section 3.2); only HTTP/1.0 may leave it out.",
					Repro: "printf 'GET /hello HTTP/1.1\\r\\n\\r\\n' | nc {host} {port}",
				},
				"two Host headers": {
					Hint:  "a request with two Host headers gets 400 (RFC 9112 section 3.2): count them, do not keep the first or the last.",
					Repro: "printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\nHost: example.com\\r\\n\\r\\n' | nc {host} {port}",
				},
				"two Host headers in HTTP/1.0": {
					Hint:  "HTTP/1.0 may leave Host out, but never send two: a request of any version with more than one Host header gets 400 (RFC 9112 section 3.2), or two servers in a chain may each route it by a different one.",
					Repro: "printf 'GET /hello HTTP/1.0\\r\\nHost: {host}\\r\\nHost: example.com\\r\\n\\r\\n' | nc {host} {port}",
				},
			},
			Check: checkHost,
		},
		{
			ID: "1.4", Title: "a body framed by Content-Length", Points: 2,
			Why:   readme1 + "#framing-the-body",
			Hint:  "read exactly Content-Length bytes of body, whatever they contain, and not one more.",
			Repro: "curl -i --data-binary $'line one\\r\\n\\r\\nGET /hello HTTP/1.1\\r\\n' http://{addr}/echo",
			Cases: map[string]spec.Case{
				"every byte value, then more requests": {
					Hint:  "read exactly Content-Length bytes of body, whatever they contain (CR LF included), and not one more: the next byte starts the next request.",
					Repro: "curl -i --data-binary $'line one\\r\\n\\r\\nGET /hello HTTP/1.1\\r\\n' http://{addr}/echo",
				},
				"3 bytes, then the end of the stream": {
					Hint:  "when the connection ends before Content-Length bytes of body have come, the body is incomplete, not shorter: answer 400 Bad Request rather than give the app what came as if it were the whole body.",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: 10\\r\\n\\r\\nabc' | nc -N {host} {port}",
				},
			},
			Check: checkContentLength,
		},
		{
			ID: "1.5", Title: "a chunked body, with extensions and trailers", Points: 3, Timeout: 8 * time.Second,
			Why:   readme1 + "#framing-the-body",
			Hint:  "read hex size lines (upper or lower case; ignore what follows a ';'), the data, its CRLF, up to the 0-size chunk; then read the trailer fields up to the empty line (RFC 9112 section 7.1).",
			Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n5;name=value\\r\\nHello\\r\\n1a\\r\\nabcdefghijklmnopqrstuvwxyz\\r\\n0\\r\\nX-Trailer: one\\r\\n\\r\\n' | nc {host} {port}",
			Check: checkChunked,
		},
		{
			ID: "1.6", Title: "pipelined requests are answered in order", Points: 2,
			Why:   readme1 + "#keep-alive",
			Hint:  "several requests can arrive in one read: keep the bytes after one request for the next, and answer each in turn, in order.",
			Repro: "printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\nGET /counter HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\nGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
			Cases: map[string]spec.Case{
				"three GETs in one write": {
					Hint:  "several requests can arrive in one read: keep the bytes that follow a request (buffered for this connection, not thrown away with the request) and answer each request in turn, in order.",
					Repro: "printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\nGET /counter HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\nGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
				},
				"a Content-Length body, then a GET": {
					Hint:  "read exactly Content-Length bytes of body: the next request starts at the byte after them, in the same read.",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: 5\\r\\n\\r\\nfirstGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
				},
				"a GET sent while the one before runs": {
					Hint:  "a request may come while the one before it is still running: leave it where it is (stop reading, or keep what was read) until the first response is written, then answer it: responses go out in the order of the requests (RFC 9112 section 9.3.2).",
					Repro: "(printf 'GET /sleep?ms=300 HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n'; sleep 0.1; printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n'; sleep 1) | nc {host} {port}   # slept 300 ms, then Hello, World!",
				},
				"a chunked body, then a GET": {
					Hint:  "a chunked body ends with the empty line after the 0-size chunk and its trailer fields: read up to there and not one byte more, since the next request starts right after.",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n6\\r\\nsecond\\r\\n0\\r\\n\\r\\nGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
				},
			},
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
			Cases: map[string]spec.Case{
				"Connection: close": {
					Hint:  "when the request says Connection: close, answer with Connection: close and close the connection after the response.",
					Repro: "printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\nConnection: close\\r\\n\\r\\n' | nc {host} {port}",
				},
				"Connection: Close": {
					Hint:  "connection options are case-insensitive (RFC 9110 section 7.6.1): Close and CLOSE mean close.",
					Repro: "printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\nConnection: Close\\r\\n\\r\\n' | nc {host} {port}",
				},
				"Connection: keep-alive, close": {
					Hint:  "Connection holds a comma-separated list of options (RFC 9110 section 7.6.1): look for close among them, not at the whole value.",
					Repro: "printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\nConnection: keep-alive, close\\r\\n\\r\\n' | nc {host} {port}",
				},
				"close in a second Connection field": {
					Hint:  "a header sent in several fields is one list (RFC 9110 section 5.3): look for close in every Connection field, not only the first.",
					Repro: "printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\nConnection: keep-alive\\r\\nConnection: close\\r\\n\\r\\n' | nc {host} {port}",
				},
				"HTTP/1.0 with Connection: keep-alive, close": {
					Hint:  "close wins over keep-alive, in HTTP/1.0 as in 1.1: a request that lists close gets Connection: close and the close.",
					Repro: "printf 'GET /hello HTTP/1.0\\r\\nConnection: keep-alive, close\\r\\n\\r\\n' | nc {host} {port}",
				},
			},
			Check: checkConnectionClose,
		},
		{
			ID: "1.9", Title: "HTTP/1.0 closes unless asked to keep alive", Points: 2,
			Why:   readme1 + "#keep-alive",
			Hint:  "HTTP/1.0 closes after each response unless the request says Connection: keep-alive, and then only if the response has a Content-Length (an HTTP/1.0 client cannot read chunked).",
			Repro: "printf 'GET /hello HTTP/1.0\\r\\n\\r\\n' | nc {host} {port}",
			Cases: map[string]spec.Case{
				"without Connection": {
					Hint:  "an HTTP/1.0 connection closes after the response unless the request says Connection: keep-alive (RFC 9112 section 9.3): close it, and do not answer Connection: keep-alive.",
					Repro: "printf 'GET /hello HTTP/1.0\\r\\n\\r\\n' | nc {host} {port}",
				},
				"with Connection: keep-alive": {
					Hint:  "an HTTP/1.0 request with Connection: keep-alive may be kept open, and then the response says Connection: keep-alive and has a Content-Length (an HTTP/1.0 client cannot read chunked); otherwise close after the response.",
					Repro: "printf 'GET /hello HTTP/1.0\\r\\nConnection: keep-alive\\r\\n\\r\\nGET /hello HTTP/1.0\\r\\nConnection: keep-alive\\r\\n\\r\\n' | nc {host} {port}",
				},
			},
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
			Cases: map[string]spec.Case{
				"request variables": {
					Hint:  environHint,
					Repro: "curl -s -H 'X-Repeated: one' -H 'X-Repeated: two' 'http://{addr}/%65nv?x=1&y=a%20b&z=%2F'",
				},
				"a request with a body": {
					Hint:  "Content-Type and Content-Length go to CONTENT_TYPE and CONTENT_LENGTH, without the HTTP_ prefix, and have no HTTP_CONTENT_* copy (PEP 3333).",
					Repro: "curl -s -X GET -H 'Content-Type: application/x-www-form-urlencoded' --data 'a=1&b=2' http://{addr}/env",
				},
				"a path decoded once": {
					Hint:  "PATH_INFO is the path percent-decoded, once: /no%20such%2520page is \"/no such%20page\". Pass the request-target on as it came; decoding it twice turns %2520 into a space.",
					Repro: "curl -si http://{addr}/no%20such%2520page",
				},
				"an absolute-form target": {
					Hint:  "a request-target may be in absolute form, http://host/path?query, and a server must accept it (RFC 9112 section 3.2.2): PATH_INFO and QUERY_STRING come from its path and query.",
					Repro: "printf 'GET http://{addr}/env?x=1 HTTP/1.1\\r\\nHost: {addr}\\r\\n\\r\\n' | nc {host} {port}",
				},
				"an HTTP/1.0 request": {
					Hint:  "SERVER_PROTOCOL is the version of the request as the client sent it (PEP 3333, after CGI): HTTP/1.0 for an HTTP/1.0 request, which the app may need to decide how to answer.",
					Repro: "printf 'GET /env HTTP/1.0\\r\\n\\r\\n' | nc {host} {port}",
				},
				"names in lower case": {
					Hint:  "header names are case-insensitive (RFC 9110 section 5.1): content-type goes to CONTENT_TYPE whatever its spelling, and has no HTTP_CONTENT_TYPE copy.",
					Repro: "printf 'GET /env HTTP/1.1\\r\\nHost: {host}\\r\\ncontent-type: text/plain\\r\\ncontent-length: 0\\r\\n\\r\\n' | nc {host} {port}",
				},
				"the app's body closed": {
					Hint:  "once a response is written (or the client has gone), call the close of the body the app returned, always (PEP 3333: close() is called whether the request completed normally or not): the app frees what the call held there.",
					Repro: "curl -s http://{addr}/hello; curl -s http://{addr}/stats   # inflight 0",
				},
			},
			Check: checkEnviron(wsgi),
		},
		{
			ID: "1.12", Title: "an app failure is a 500, and the server goes on", Points: 1,
			Why:   readme1 + "#the-gateway",
			Hint:  "when the app fails, answer 500 Internal Server Error, log the error, and keep serving: one bad request must not take the server down.",
			Repro: "curl -i http://{addr}/error; curl -i http://{addr}/hello",
			Cases: map[string]spec.Case{
				"GET /error": {
					Hint:  "when the app returns an error, answer 500 Internal Server Error, log the error, and keep serving: one bad request must not take the server down.",
					Repro: "curl -i http://{addr}/error; curl -i http://{addr}/hello",
				},
				"GET /panic": {
					Hint:  "when the app panics (in Python: raises), catch it where the server calls the app, answer 500 and keep serving: an app's bug must end its request, never the server's process.",
					Repro: "curl -i http://{addr}/panic; curl -i http://{addr}/hello",
				},
			},
			Check: checkAppError,
		},
		{
			ID: "1.13", Title: "malformed requests get 400 and a close", Points: 2, Timeout: 10 * time.Second,
			Why:   readme1 + "#parsing-the-request",
			Hint:  "answer a request you cannot parse with 400 and Connection: close, then close: after a parse error the server cannot tell where the next request starts.",
			Repro: "(head -c 256 /dev/urandom; printf '\\r\\n\\r\\n') | nc {host} {port}",
			Cases: map[string]spec.Case{
				"garbage bytes": {
					Hint:  "bytes that are not a request line get 400 Bad Request and Connection: close, then the close, and the server goes on serving: whatever arrives, a parse error must end in an answer, never in a crash or a hang.",
					Repro: "(head -c 256 /dev/urandom; printf '\\r\\n\\r\\n') | nc {host} {port}",
				},
				"a request line without a version": {
					Hint:  "a request line is METHOD SP target SP HTTP/x.y (RFC 9112 section 3); one without a version gets 400 and a close.",
					Repro: "printf 'GET /hello\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
				},
				"a bad version": {
					Hint:  "the version is HTTP/ digit . digit (RFC 9112 section 2.3); anything else gets 400 and a close.",
					Repro: "printf 'GET /hello HTTP/1.x\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
				},
				"a header line without a colon": {
					Hint:  "a header line is name: value; a line without a colon gets 400 and a close.",
					Repro: "printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\nX-No-Colon value\\r\\n\\r\\n' | nc {host} {port}",
				},
				"a space before the colon": {
					Hint:  "whitespace between a field name and its colon must be refused with 400 (RFC 9112 section 5.1), never stripped: two servers in a chain would read the field differently.",
					Repro: "printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\nX-Space : value\\r\\n\\r\\n' | nc {host} {port}",
				},
				"a control character in a value": {
					Hint:  "a field value may hold tabs and visible characters, not other control characters (RFC 9110 section 5.5): refuse a NUL, CR or other control byte with 400 and a close, rather than hand it to the app, whose logs or headers it could corrupt.",
					Repro: "printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\nX-Ctl: a\\000b\\r\\n\\r\\n' | nc {host} {port}",
				},
				"another major version": {
					Hint:  "the server speaks HTTP/1.x only: a well-formed request line of another major version (HTTP/2.0) gets 505 HTTP Version Not Supported and a close (RFC 9110 section 15.6.6), not an answer as if it were HTTP/1.1.",
					Repro: "printf 'GET /hello HTTP/2.0\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
				},
				"the server still serves": {
					Hint:  "after refusing malformed requests the server must go on serving new connections.",
					Repro: "curl -i http://{addr}/hello",
				},
			},
			Check: checkMalformed,
		},
		{
			ID: "1.14", Title: "a request line over 8 KiB gets 414", Points: 1,
			Why:   readme1 + "#limits",
			Hint:  "stop reading a request line after 8 KiB and answer 414 URI Too Long; never buffer a line without a bound.",
			Repro: "curl -i http://{addr}/$(head -c 8200 /dev/zero | tr '\\0' a)",
			Cases: map[string]spec.Case{
				"a line just over 8 KiB": {
					Hint:  "a request line longer than 8 KiB (8192 bytes) gets 414 URI Too Long: the limit is 8 KiB, not more.",
					Repro: "curl -i http://{addr}/$(head -c 8200 /dev/zero | tr '\\0' a)",
				},
				"a line that never ends": {
					Hint:  "count the bytes of the request line as they arrive and answer 414 as soon as it passes 8 KiB, without waiting for its end: a line that never ends must not be buffered without bound until a timeout.",
					Repro: "(printf 'GET /'; head -c 65536 /dev/zero | tr '\\0' a; sleep 3) | nc {host} {port}   # 414 at once, not a silent close after -header-timeout",
				},
			},
			Check: checkLongLine,
		},
		{
			ID: "1.15", Title: "more than 100 header fields get 431", Points: 1,
			Why:   readme1 + "#limits",
			Hint:  "count the header fields as you read them and answer 431 Request Header Fields Too Large past 100: the 101st is one too many.",
			Repro: "(printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n'; for i in $(seq 100); do printf 'X-Field-%d: 1\\r\\n' $i; done; printf '\\r\\n') | nc {host} {port}",
			Check: checkManyHeaders,
		},
		{
			ID: "1.16", Title: "a header section over 8 KiB gets 431", Points: 1,
			Why:   readme1 + "#limits",
			Hint:  "add up the bytes of the header lines as you read them and answer 431 Request Header Fields Too Large past 8 KiB.",
			Repro: "(printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n'; for i in $(seq 17); do printf 'X-Big-%d: %0500d\\r\\n' $i 0; done; printf '\\r\\n') | nc {host} {port}",
			Cases: map[string]spec.Case{
				"17 fields of 500 bytes": {
					Hint:  "add up the bytes of the header lines as you read them and answer 431 Request Header Fields Too Large past 8 KiB: 17 fields of 500 bytes are about 8.5 KiB, over the limit.",
					Repro: "(printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n'; for i in $(seq 17); do printf 'X-Big-%d: %0500d\\r\\n' $i 0; done; printf '\\r\\n') | nc {host} {port}",
				},
				"line ends counted": {
					Hint:  "the 8 KiB of the header section count every byte of its field lines, their CRLFs too: 17 field lines of 8,180 bytes without their line ends are 8,214 with them, over the limit.",
					Repro: "(printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n'; for i in $(seq 15); do printf 'X-Big-%02d: %0500d\\r\\n' $i 0; done; printf 'X-Pad: %0508d\\r\\n\\r\\n' 0) | nc {host} {port}   # 431",
				},
				"a field line that never ends, in pieces": {
					Hint:  "count the bytes of a header line across reads: what was kept from earlier reads counts with what just came, so that a line that arrives 1 KiB at a time gets 431 at 8 KiB, as one that arrives at once does.",
					Repro: "(printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\nX-Endless: '; for i in $(seq 16); do head -c 1024 /dev/zero | tr '\\0' a; sleep 0.025; done; sleep 3) | nc {host} {port}   # 431",
				},
				"a field line that never ends": {
					Hint:  "count the bytes of a header line as they arrive and answer 431 as soon as the section passes 8 KiB, without waiting for the line's end: a line that never ends must not be buffered without bound until a timeout.",
					Repro: "(printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\nX-Endless: '; head -c 65536 /dev/zero | tr '\\0' a; sleep 3) | nc {host} {port}   # 431 at once",
				},
			},
			Check: checkBigHeaders,
		},
		{
			ID: "1.17", Title: "a body over -max-body gets 413", Points: 2, Timeout: 15 * time.Second,
			Why:   readme1 + "#limits",
			Hint:  "refuse a Content-Length over -max-body with 413 before reading the body; count the bytes of a chunked body as you decode it and answer 413 when it goes over.",
			Repro: "curl -i -H 'Content-Length: 2097152' -H 'Expect:' --data-binary '' http://{addr}/echo",
			Cases: map[string]spec.Case{
				"by Content-Length": {
					Hint:  "compare Content-Length with -max-body as soon as the head is read, and answer 413 Content Too Large before reading any of the body: one byte over is too large.",
					Repro: "curl -i -H 'Content-Length: 1048577' -H 'Expect:' --data-binary '' http://{addr}/echo",
				},
				"the refused body is not read as a request": {
					Hint:  "after a 413 the body is still on its way, unread: close the connection (say Connection: close), or skip the whole body; never read its bytes as the next request.",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: 2097152\\r\\n\\r\\nGET /pid HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
				},
				"chunked": {
					Hint:  "count the bytes of a chunked body as you decode it and answer 413 Content Too Large when it goes over -max-body, by one byte or more.",
					Repro: "head -c 1048577 /dev/zero | curl -i -H 'Transfer-Encoding: chunked' --data-binary @- http://{addr}/echo",
				},
			},
			Check: checkBodyLimit,
		},
		{
			ID: "1.18", Title: "an unknown Transfer-Encoding gets 501", Points: 1,
			Why:   readme1 + "#framing-the-body",
			Hint:  "chunked is the only transfer coding a server must know; answer 501 Not Implemented to any other, since the body cannot be framed.",
			Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nTransfer-Encoding: frobnicate, chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n0\\r\\n\\r\\n' | nc {host} {port}",
			Cases: map[string]spec.Case{
				"frobnicate, chunked": {
					Hint:  "chunked is the only transfer coding a server must know; answer 501 Not Implemented to any other in the list, since the body cannot be framed.",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nTransfer-Encoding: frobnicate, chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n0\\r\\n\\r\\n' | nc {host} {port}",
				},
				"chunked, then frobnicate in a second field": {
					Hint:  "Transfer-Encoding sent in two fields is one list (RFC 9110 section 5.3): read every field, not the first; here the last coding is not chunked, so the body cannot be framed: 501 (or 400), then close.",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nTransfer-Encoding: chunked\\r\\nTransfer-Encoding: frobnicate\\r\\n\\r\\n5\\r\\nhello\\r\\n0\\r\\n\\r\\n' | nc {host} {port}",
				},
			},
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
			Hint:  "a kept-alive connection may wait -idle-timeout for its next request: close it when that time has passed without a byte, not sooner and not never.",
			Repro: "(printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n'; sleep 5) | nc {host} {port}   # the server should hang up after -idle-timeout",
			Check: checkIdleTimeout,
		},
		{
			ID: "1.22", Title: "a slowloris client is cut off", Points: 2, Timeout: 10 * time.Second,
			Why:   readme1 + "#timeouts",
			Hint:  "the header timeout is a deadline for the whole request head, set once when its first byte arrives, not a timeout per read: a client sending a byte every 200 ms never trips a per-read timeout.",
			Repro: "time (printf 'GET /hello HTTP/1.1\\r\\n'; for i in $(seq 30); do printf 'X-Slow-%d: x\\r\\n' $i; sleep 0.2; done) | nc {host} {port}   # nothing printed; with -header-timeout 1s it must end after about 1 s, not 6",
			Cases: map[string]spec.Case{
				"a slowloris head": {
					// The spec's hint, which chapter 3 replaces with the event loop's.
					Repro: "time (printf 'GET /hello HTTP/1.1\\r\\n'; for i in $(seq 30); do printf 'X-Slow-%d: x\\r\\n' $i; sleep 0.2; done) | nc {host} {port}   # nothing printed; with -header-timeout 1s it must end after about 1 s, not 6",
				},
				"a pause, then a head in pieces": {
					Hint:  "a new connection has -header-timeout to send its first byte, and the head has -header-timeout from that byte on, not from the connection's start; and a head may come in pieces: read until the empty line that ends it, across as many reads as it takes.",
					Repro: "(sleep 0.5; printf 'GET /hello HTTP/1.1\\r\\n'; sleep 0.3; printf 'Host: {host}\\r\\n'; sleep 0.3; printf '\\r\\n'; sleep 1) | nc {host} {port}   # Hello, World! with -header-timeout 1s",
				},
			},
			Check: checkSlowloris,
		},
		{
			ID: "1.23", Title: "a client that stops mid-body is cut off", Points: 1, Timeout: 10 * time.Second,
			Flags: []string{"-body-timeout", "1s"},
			Why:   readme1 + "#timeouts",
			Hint:  "bound the reading of a body by -body-timeout: a client that stops sending it must not hold the connection (and, in a blocking server, everyone else) forever.",
			Repro: "(printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: 1000\\r\\n\\r\\nonly ten b'; sleep 5) | nc {host} {port}   # with -body-timeout 1s",
			Check: checkBodyTimeout,
		},
		{
			ID: "1.24", Title: "a client that stops reading is cut off", Points: 1, Timeout: 15 * time.Second,
			Flags: []string{"-body-timeout", "1s", "-write-timeout", "1s"},
			Why:   readme1 + "#timeouts",
			Hint:  "bound the writing of a response by -write-timeout (after the body's time): a client that stops reading fills the socket buffers and blocks the write forever.",
			Repro: "(printf 'GET /big?bytes=16777216 HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n'; sleep 5) | nc {host} {port} | (sleep 4; wc -c)   # with -body-timeout 1s -write-timeout 1s: far fewer bytes than asked",
			Check: checkSlowReader,
		},
		{
			ID: "1.25", Title: "a body the app did not read is skipped", Points: 2,
			Why:   readme1 + "#framing-the-body",
			Hint:  "whatever of a body the app leaves unread, read and drop it before the next request (or close the connection, saying so): its bytes are not the next request.",
			Repro: "printf 'POST /hello HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: 38\\r\\n\\r\\nGET /pid HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\nGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}   # 405, then Hello: no pid",
			Cases: map[string]spec.Case{
				"POST /hello with a body: 405": {
					Hint:  "the app answered 405 without reading the body: read and drop the body before reading the next request (or close the connection, saying Connection: close); its bytes must never be parsed as a request.",
					Repro: "printf 'POST /hello HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: 38\\r\\n\\r\\nGET /pid HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\nGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}   # 405, then Hello: no pid",
				},
				"GET /hello with a body": {
					Hint:  "the app answered without reading the body: read and drop what it left before reading the next request (or close the connection, saying Connection: close); its bytes must never be parsed as a request.",
					Repro: "printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: 38\\r\\n\\r\\nGET /pid HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\nGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}   # two Hellos: no pid",
				},
				"GET /hello with a chunked body": {
					Hint:  "the app answered without reading the chunked body: decode and drop the rest of it, up to the end of its trailer section, before reading the next request (or close the connection, saying so).",
					Repro: "printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n26\\r\\nGET /pid HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n\\r\\n0\\r\\n\\r\\nGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}   # two Hellos: no pid",
				},
			},
			Check: checkUnreadBody,
		},
		{
			ID: "1.26", Title: "a Content-Length that is not digits gets 400", Points: 2,
			Why:   readme1 + "#request-smuggling",
			Hint:  "Content-Length is decimal digits and nothing else (RFC 9110 section 8.6); anything else makes the body's end ambiguous: answer 400 and close (RFC 9112 section 6.3).",
			Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: +5\\r\\n\\r\\nhelloGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
			Cases: map[string]spec.Case{
				"+5": {
					Hint:  "Content-Length is digits only: a sign is not allowed, though many number parsers take \"+5\" for 5; another server in the chain may not, and the two then disagree on where the body ends. Answer 400 and close.",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: +5\\r\\n\\r\\nhelloGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
				},
				"-1": {
					Hint:  "Content-Length is digits only: -1 is no length, and must never be taken for \"unknown\" or \"chunked\". Answer 400 and close.",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: -1\\r\\n\\r\\n5\\r\\nhello\\r\\n0\\r\\n\\r\\nGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
				},
				"0x5": {
					Hint:  "Content-Length is decimal digits only: a parser that takes a base prefix reads 0x5 as 5. Answer 400 and close.",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: 0x5\\r\\n\\r\\nhelloGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
				},
				"a list with +5": {
					Hint:  "every value in a Content-Length list must be digits (RFC 9110 section 8.6): check each element, not only the first, and answer 400 and close.",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: 5, +5\\r\\n\\r\\nhelloGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
				},
				"a length of 20 digits": {
					Hint:  "a length too large for a 64-bit integer must be refused (400 or 413), never wrap around: 18446744073709551621 is 2^64 + 5, which a digit loop that overflows reads as 5 (RFC 9110 section 8.6: anticipate large numerals).",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: 18446744073709551621\\r\\n\\r\\nhelloGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
				},
			},
			Check: checkBadLength,
		},
		{
			ID: "1.27", Title: "a malformed chunked body gets 400", Points: 1,
			Why:   readme1 + "#framing-the-body",
			Hint:  "a chunk size is hex digits only, and chunk data is followed by CRLF; anything else makes the body's end ambiguous: answer 400 and close.",
			Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0x5\\r\\nhello\\r\\n0\\r\\n\\r\\n' | nc {host} {port}",
			Cases: map[string]spec.Case{
				"a size of 0x5": {
					Hint:  "a chunk size is hex digits only (RFC 9112 section 7.1): no 0x prefix, no sign. Answer 400 and close.",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0x5\\r\\nhello\\r\\n0\\r\\n\\r\\n' | nc {host} {port}",
				},
				"data not followed by CRLF": {
					Hint:  "after the data of a chunk comes CRLF: check that it does (RFC 9112 section 7.1) rather than skip two bytes, which lets a body hide bytes the size line did not count. Answer 400 and close.",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n5\\r\\nhello!!0\\r\\n\\r\\n' | nc {host} {port}",
				},
				"data one byte longer than its size": {
					Hint:  "the data of a chunk is exactly chunk-size bytes, then CR LF (RFC 9112 section 7.1): check both bytes; a parser that takes any byte for the end of the line reads 5\\r\\nhelloX3\\r\\nabc as hello and abc, one byte hidden. Answer 400 and close.",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n5\\r\\nhelloX3\\r\\nabc\\r\\n0\\r\\n\\r\\n' | nc {host} {port}",
				},
				"a trailer field with white space before its colon": {
					Hint:  "the trailer section is header fields (RFC 9112 section 7.1.2), read with the same rules and limits: white space between a field name and its colon gets 400 (section 5.1), in a trailer too.",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n0\\r\\nX-Bad : 1\\r\\n\\r\\n' | nc {host} {port}",
				},
				"a size of 17 hex digits": {
					Hint:  "a chunk size too large for a 64-bit integer must be refused (400 or 413), never wrap around: 10000000000000005 is 2^64 + 5 (RFC 9112 section 7.1: anticipate large numerals and integer overflow).",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n10000000000000005\\r\\nhello\\r\\n0\\r\\n\\r\\n' | nc {host} {port}",
				},
			},
			Check: checkBadChunks,
		},
		{
			ID: "1.28", Title: "framing: names in any case; no header, no body", Points: 1,
			Why:   readme1 + "#framing-the-body",
			Hint:  "find Content-Length and Transfer-Encoding whatever the case of their names and of the coding; a request with neither has no body.",
			Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\ncontent-length: 5\\r\\n\\r\\nhelloGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
			Cases: map[string]spec.Case{
				"content-length in lower case": {
					Hint:  "header names are case-insensitive: content-length is Content-Length, and frames the body.",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\ncontent-length: 5\\r\\n\\r\\nhelloGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
				},
				"TRANSFER-ENCODING: Chunked": {
					Hint:  "header names and transfer codings are case-insensitive (RFC 9112 section 7): TRANSFER-ENCODING: Chunked is a chunked body.",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nTRANSFER-ENCODING: Chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n0\\r\\n\\r\\nGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
				},
				"POST without a length": {
					Hint:  "a request with neither Content-Length nor Transfer-Encoding has an empty body (RFC 9112 section 6.3): never read it until the connection closes, since the client keeps the connection open for the response.",
					Repro: "(printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n'; sleep 3) | nc {host} {port}   # an empty 200 at once",
				},
			},
			Check: checkFramingCase,
		},
		{
			ID: "1.29", Title: "requests just under the limits are served", Points: 1, Timeout: 10 * time.Second,
			Why:   readme1 + "#limits",
			Hint:  "a request inside every limit is served in full: a line longer than a read buffer is still one line, and a limit is the largest size allowed, not the first one refused.",
			Repro: "curl -s \"http://{addr}/env?q=$(head -c 7600 /dev/zero | tr '\\0' q)\" | grep -c QUERY_STRING",
			Cases: map[string]spec.Case{
				"a 7.5 KiB request line": {
					Hint:  "a request line of 7.5 KiB is under the 8 KiB limit: serve it, even if it is longer than the buffer you read with (grow the line, or read it in pieces, up to the limit).",
					Repro: "curl -s \"http://{addr}/env?q=$(head -c 7600 /dev/zero | tr '\\0' q)\" | grep -c QUERY_STRING",
				},
				"an 8 KiB request line": {
					Hint:  "a request line of exactly 8 KiB (8192 bytes, its CRLF aside) is the limit itself, not over it: serve it. Only a longer one gets 414.",
					Repro: "curl -s \"http://{addr}/env?q=$(head -c 8172 /dev/zero | tr '\\0' q)\" | grep -c QUERY_STRING",
				},
				"a 7.5 KiB header field": {
					Hint:  "a header field of 7.5 KiB is under the 8 KiB limit: serve it, even if it is longer than the buffer you read with (grow the line, or read it in pieces, up to the limit).",
					Repro: "curl -s -H \"X-Long: $(head -c 7600 /dev/zero | tr '\\0' y)\" http://{addr}/env | grep -c HTTP_X_LONG",
				},
				"100 header fields": {
					Hint:  "100 header fields are allowed; the 101st is the first too many (431).",
					Repro: "(printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n'; for i in $(seq 99); do printf 'X-Field-%d: 1\\r\\n' $i; done; printf '\\r\\n') | nc {host} {port}",
				},
				"a body of -max-body bytes": {
					Hint:  "a body of exactly -max-body bytes is allowed; only a larger one gets 413.",
					Repro: "head -c 1048576 /dev/zero | curl -s -H 'Expect:' --data-binary @- http://{addr}/echo | wc -c   # 1048576",
				},
				"a chunked body of -max-body bytes": {
					Hint:  "a chunked body of exactly -max-body bytes is allowed; only a larger one gets 413.",
					Repro: "head -c 1048576 /dev/zero | curl -s -H 'Transfer-Encoding: chunked' --data-binary @- http://{addr}/echo | wc -c   # 1048576",
				},
			},
			Check: checkUnderLimits,
		},
		{
			ID: "1.30", Title: "a streamed body: chunked, or until the close", Points: 2, Timeout: 10 * time.Second,
			Why:   readme1 + "#the-gateway",
			Hint:  "a body whose length is not known is sent chunked to HTTP/1.1, each chunk as soon as the app makes it, and to HTTP/1.0 as the bytes up to the close.",
			Repro: "curl -s --raw 'http://{addr}/stream?chunks=3&bytes=20'",
			Cases: map[string]spec.Case{
				"HTTP/1.1: chunked": {
					Hint:  "a body whose length the app does not give is sent with Transfer-Encoding: chunked and no Content-Length: each piece as hex size CRLF data CRLF, then 0 CRLF CRLF; after that the connection carries the next request.",
					Repro: "curl -s --raw 'http://{addr}/stream?chunks=3&bytes=20'",
				},
				"HTTP/1.1: each chunk as it is made": {
					Hint:  "send each chunk of a streamed body as soon as the app yields it (write and flush it), not all of them when the body ends: a client waiting for the first part must not wait for the last.",
					Repro: "curl -sN --raw 'http://{addr}/stream?chunks=3&bytes=10&ms=500'   # three chunks, half a second apart, not all at once",
				},
				"HTTP/1.0: until the close": {
					Hint:  "an HTTP/1.0 client cannot read chunked: send a body of unknown length as it is, without Transfer-Encoding, and close the connection at its end, which is how the client knows it is over.",
					Repro: "curl -s0i 'http://{addr}/stream?chunks=3&bytes=20'",
				},
				"HTTP/1.0 keep-alive: until the close": {
					Hint:  "an HTTP/1.0 client that asks for keep-alive still cannot read chunked: a body of unknown length ends with the close, so the response must not say Connection: keep-alive, and the server closes after it.",
					Repro: "curl -s0i -H 'Connection: keep-alive' 'http://{addr}/stream?chunks=3&bytes=20'",
				},
				"HEAD: no body": {
					Hint:  "a HEAD response has no body, streamed or not: send the head and nothing after it, and go on to the next request.",
					Repro: "curl -sI 'http://{addr}/stream?chunks=3&bytes=20'",
				},
			},
			Check: checkStream,
		},
		{
			ID: "1.31", Title: "Expect: 100-continue", Points: 2,
			Why:   readme1 + "#framing-the-body",
			Hint:  "answer Expect: 100-continue with HTTP/1.1 100 Continue, sent at once, before reading the body; another expectation gets 417; an HTTP/1.0 request's Expect is ignored.",
			Repro: "time curl -sv -H 'Expect: 100-continue' --data-binary 'hello world' http://{addr}/echo   # < HTTP/1.1 100 Continue at once, not after a second",
			Cases: map[string]spec.Case{
				"the client waits for 100 Continue": {
					Hint:  "a client that sends Expect: 100-continue waits for \"HTTP/1.1 100 Continue\" before it sends the body: send it, and flush it, before reading the body, then answer as usual (RFC 9110 section 10.1.1).",
					Repro: "time curl -sv -H 'Expect: 100-continue' --data-binary 'hello world' http://{addr}/echo   # < HTTP/1.1 100 Continue at once, not after a second",
				},
				"100-Continue in another case": {
					Hint:  "the value of Expect is case-insensitive (RFC 9110 section 10.1.1): 100-Continue is 100-continue.",
					Repro: "time curl -sv -H 'Expect: 100-Continue' --data-binary 'hello world' http://{addr}/echo",
				},
				"the body sent at once": {
					Hint:  "a client may send the body without waiting for 100 Continue: read it as usual, answer once, and send nothing more after the final response.",
					Repro: "printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nExpect: 100-continue\\r\\nContent-Length: 11\\r\\n\\r\\nhello worldGET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n' | nc {host} {port}",
				},
				"an unknown expectation": {
					Hint:  "an expectation other than 100-continue in an HTTP/1.1 request gets 417 Expectation Failed (RFC 9110 section 10.1.1).",
					Repro: "curl -si -H 'Expect: something-else' --data-binary 'hello' http://{addr}/echo",
				},
				"HTTP/1.0: 100-continue ignored": {
					Hint:  "a server must ignore Expect: 100-continue in an HTTP/1.0 request (RFC 9110 section 10.1.1): an HTTP/1.0 client knows no 1xx response. Read the body and answer it.",
					Repro: "printf 'POST /echo HTTP/1.0\\r\\nExpect: 100-continue\\r\\nContent-Length: 5\\r\\n\\r\\nhello' | nc {host} {port}",
				},
				"HTTP/1.0: an unknown expectation ignored": {
					Hint:  "Expect means nothing in an HTTP/1.0 request (RFC 9110 section 10.1.1): ignore it, no 417. Read the body and answer it.",
					Repro: "printf 'POST /echo HTTP/1.0\\r\\nExpect: something-else\\r\\nContent-Length: 5\\r\\n\\r\\nhello' | nc {host} {port}",
				},
			},
			Check: checkExpect,
		},
		{
			ID: "1.32", Title: "a client that resets its connection", Points: 1, Timeout: 10 * time.Second,
			Why:   readme1 + "#keep-alive",
			Hint:  "a client may vanish at any moment: a read or a write that fails (connection reset, broken pipe) ends that connection, and the server goes on with the next one.",
			Repro: "python3 -c \"import socket,struct; s=socket.create_connection(('{host}',{port})); s.send(b'GET /hello HTTP/1.1\\r\\nHost: x\\r\\nX-Pad: pppp'); s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii',1,0)); s.close()\"; curl -i http://{addr}/hello",
			Cases: map[string]spec.Case{
				"a reset in the head": {
					Hint:  "when a read fails because the client reset the connection, close that connection and go on to the next: a reset must never end the process or leave the server waiting on a dead connection.",
					Repro: "python3 -c \"import socket,struct; s=socket.create_connection(('{host}',{port})); s.send(b'GET /hello HTTP/1.1\\r\\nHost: x\\r\\nX-Pad: pppp'); s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii',1,0)); s.close()\"; curl -i http://{addr}/hello",
				},
				"a reset in the body": {
					Hint:  "when reading the body fails because the client reset the connection, end that request and that connection (there is nobody to answer) and go on to the next.",
					Repro: "python3 -c \"import socket,struct; s=socket.create_connection(('{host}',{port})); s.send(b'POST /echo HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 2000\\r\\n\\r\\nhalf'); s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii',1,0)); s.close()\"; curl -i http://{addr}/hello",
				},
				"a reset in the response": {
					Hint:  "when a write fails because the client reset the connection (ECONNRESET, EPIPE; in C also the SIGPIPE signal), stop writing, close that connection and go on to the next.",
					Repro: "curl -s --max-time 0.2 -o /dev/null 'http://{addr}/big?bytes=1000000000'; curl -i http://{addr}/hello",
				},
			},
			Check: checkResets,
		},
		{
			ID: "1.33", Title: "a connection that sends nothing is closed", Points: 1, Timeout: 8 * time.Second,
			Why:   readme1 + "#timeouts",
			Hint:  "a new connection has -header-timeout to send its first byte: close it when that time has passed in silence, or one idle client holds the server.",
			Repro: "(sleep 5) | nc {host} {port} & sleep 0.2; time curl -s http://{addr}/hello   # with -header-timeout 1s: about 1 s, and nc ends",
			Check: checkSilent,
		},
		{
			ID: "1.34", Title: "deadlines are per request, not per connection", Points: 2, Timeout: 12 * time.Second,
			Flags: []string{"-header-timeout", "500ms", "-idle-timeout", "2s", "-body-timeout", "1500ms", "-write-timeout", "300ms"},
			Why:   readme1 + "#timeouts",
			Hint:  "each deadline covers one phase of one request: the head from its first byte, the body from the end of the head, the response after it; set them anew for every request.",
			Repro: "(printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: 6\\r\\n\\r\\n'; for i in 1 2 3 4 5 6; do sleep 0.15; printf $i; done; sleep 1) | nc {host} {port}   # with -header-timeout 500ms -body-timeout 1500ms -write-timeout 300ms: 200 and 123456",
			Cases: map[string]spec.Case{
				"a slow upload within -body-timeout": {
					Hint:  "once the head is read, the body has -body-timeout, not what is left of -header-timeout; and the response's deadline is -body-timeout plus -write-timeout after the head, so that a slow upload does not use up the time of its response.",
					Repro: "(printf 'POST /echo HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: 6\\r\\n\\r\\n'; for i in 1 2 3 4 5 6; do sleep 0.15; printf $i; done; sleep 1) | nc {host} {port}   # with -header-timeout 500ms -body-timeout 1500ms -write-timeout 300ms: 200 and 123456",
				},
				"one connection used for longer than every timeout": {
					Hint:  "a kept-alive connection may live far longer than any timeout: set the read deadlines (idle, head, body) and the write deadline anew for each request, never once for the whole connection.",
					Repro: "(for i in 1 2 3 4; do printf 'GET /hello HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n'; sleep 0.7; done) | nc {host} {port}   # four Hellos, with -header-timeout 500ms -idle-timeout 2s -body-timeout 1500ms -write-timeout 300ms",
				},
			},
			Check: checkPerRequestDeadlines,
		},
	}
}

// headOfLine1 measures head-of-line blocking. It is informational in chapter 1, where a blocking server
// cannot do better, and is not run by later chapters, which have specs of their own for concurrency.
var headOfLine1 = spec.Spec{
	ID: "1.35", Title: "head-of-line blocking (measured)", Points: 1, Timeout: 8 * time.Second,
	Why:   readme1 + "#head-of-line-blocking",
	Hint:  "both requests must get their 200; how long the second waits is the lesson of this chapter, not a failure.",
	Repro: "curl -s -o /dev/null -w '%{time_total}s\\n' 'http://{addr}/sleep?ms=300' & curl -s -o /dev/null -w '%{time_total}s\\n' 'http://{addr}/sleep?ms=300'; wait",
	Check: checkHeadOfLine,
}

// outOfFiles1 checks the accept loop against EMFILE: out of file descriptors, accept fails until a descriptor
// is free again, and a loop that returns on any error of accept takes the server down with it.
var outOfFiles1 = spec.Spec{
	ID: "1.37", Title: "out of file descriptors: wait, then serve", Points: 2, Timeout: 10 * time.Second,
	Fresh: true,
	Why:   readme1 + "#the-accept-loop",
	Hint: "when accept fails because the process is out of file descriptors (EMFILE), log it, wait a moment (a tenth of " +
		"a second) and accept again: the error goes away as soon as a connection closes. A server that returns from its " +
		"accept loop on it dies under the first burst of connections.",
	Repro: "P=$(pgrep -nf -- '-addr {addr}'); prlimit --pid $P --nofile=$(ls /proc/$P/fd | wc -l):; curl -s -m 1 http://{addr}/hello; " +
		"kill -0 $P && echo still running; prlimit --pid $P --nofile=1024:; curl -s http://{addr}/hello",
	Check: checkOutOfFiles1,
}

func checkOutOfFiles1(t *spec.T) {
	restore, err := t.Server().LimitOpenFiles(0)
	if err != nil {
		t.Fatalf("%v", err)
	}
	restored := false
	defer func() {
		if !restored {
			restore()
		}
	}()
	t.Logf("the server's soft limit on open files is now the number it has open: its next accept fails with EMFILE")
	c := t.Dial() // the kernel completes the connection in the backlog, accepted or not
	req := get("/hello")
	if err := c.SendString(req); err != nil {
		t.Fatalf("sending %s: %v", firstLine(req), err)
	}
	time.Sleep(500 * time.Millisecond)
	if exited, how := t.Server().Exited(); exited {
		t.Fatalf("the server exited (%s) when accept failed for want of a file descriptor (EMFILE): that error passes "+
			"as soon as a connection closes; log it, wait a moment, and accept again", how)
	}
	if err := restore(); err != nil {
		t.Fatalf("%v", err)
	}
	restored = true
	t.Expect(req, "", "200 OK within 3 s, once the server has file descriptors again")
	r, err := c.ReadResponse(3*time.Second, false)
	switch {
	case err != nil:
		t.Fatalf("the request waiting in the backlog while the server was out of file descriptors: %s, 3 s after it "+
			"had them back; want 200: accept again, after a pause, until it works", harness.DescribeNetError(err))
	case r.Status != 200:
		t.Fatalf("the request waiting in the backlog while the server was out of file descriptors got %s, want 200", status(r))
	}
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
		"X-Spaces:   Two Words  \r\n" +
		"X-Tabs:\tthree\t\r\n" +
		"X-Time: 12:30:45\r\n" +
		"X-Empty:\r\n" +
		"\r\n"
	r := roundTrip(t, c, req, "200 OK (\"host\" is the Host header) and an environ with the values trimmed")
	wantStatus(t, r, req, 200)
	want := map[string]string{
		"HTTP_HOST":         "127.0.0.1",
		"HTTP_X_MIXED_CASE": "one",
		"HTTP_X_SPACES":     "Two Words",
		"HTTP_X_TABS":       "three",
		"HTTP_X_TIME":       "12:30:45",
		"HTTP_X_EMPTY":      "",
	}
	t.Diff(firstLine(req)+": unexpected values among the HTTP_* keys of the environ", want, pick(environ(t, r, req), keys(want)))
}

func checkHost(t *spec.T) {
	cases := []struct{ name, req string }{
		{"no Host", "GET /hello HTTP/1.1\r\nUser-Agent: grader\r\n\r\n"},
		{"two Host headers", "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: example.com\r\n\r\n"},
		{"two Host headers in HTTP/1.0", "GET /hello HTTP/1.0\r\nHost: 127.0.0.1\r\nHost: example.com\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *spec.T) {
			r := roundTrip(t, t.Dial(), tc.req, "400 Bad Request")
			wantStatus(t, r, tc.req, 400)
		})
	}
}

func checkContentLength(t *spec.T) {
	t.Run("every byte value, then more requests", func(t *spec.T) {
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
	})
	t.Run("3 bytes, then the end of the stream", func(t *spec.T) {
		// A body cut short by the client is a bad request, not a shorter body.
		c := t.Dial()
		short := request("POST", "/echo", "", "Content-Length: 10") + "abc"
		send(t, c, short, "a 400: the connection ended 7 bytes before the end of the body")
		if err := c.CloseWrite(); err != nil {
			t.Fatalf("%s: shutting down the sending side: %v", firstLine(short), err)
		}
		r := read(t, c, short, "a 400: the connection ended 7 bytes before the end of the body")
		if r.Status != 400 {
			t.Fatalf("%s with 3 bytes of body, then the end of the stream: got %s with body %q, want 400 Bad Request: "+
				"a body that ends before its Content-Length is incomplete, not shorter", firstLine(short), status(r), r.Body)
		}
	})
}

// chunk is one chunk of a chunked body: its data, the extension after its size, and the size as written if
// not the default upper-case hex.
type chunk struct{ data, ext, size string }

// chunked encodes chunks with the sizes in upper-case hex (unless a chunk says otherwise), then the trailer
// lines.
func chunked(chunks []chunk, trailers ...string) string {
	var b strings.Builder
	for _, c := range chunks {
		size := c.size
		if size == "" {
			size = fmt.Sprintf("%X", len(c.data))
		}
		fmt.Fprintf(&b, "%s%s\r\n%s\r\n", size, c.ext, c.data)
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
		{data: "Hello", ext: ";name=value"},
		{data: ", chunked world", ext: `;quoted="a;b"`},
		{data: "\r\n0\r\n\r\n"}, // data that looks like the last chunk
		{data: "abcdefghijklmnopqrstuvwxyz", size: "1a"},
		{data: "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
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
	t.Run("three GETs in one write", func(t *spec.T) {
		pipeline(t, []string{get("/hello"), get("/hello"), get("/hello")}, []string{hello, hello, hello})
	})
	t.Run("a Content-Length body, then a GET", func(t *spec.T) {
		pipeline(t, []string{request("POST", "/echo", "first", "Content-Length: 5"), get("/hello")}, []string{"first", hello})
	})
	t.Run("a chunked body, then a GET", func(t *spec.T) {
		pipeline(t, []string{request("POST", "/echo", chunked([]chunk{{data: "second"}}), "Transfer-Encoding: chunked"), get("/hello")},
			[]string{"second", hello})
	})
	t.Run("a GET sent while the one before runs", func(t *spec.T) {
		pipelineApart(t, []string{sleepReq(300), get("/hello")}, []string{"slept 300 ms\n", hello}, 100*time.Millisecond)
	})
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
	cases := []struct{ name, req string }{
		{"Connection: close", get("/hello", "Connection: close")},
		{"Connection: Close", get("/hello", "Connection: Close")},
		{"Connection: keep-alive, close", get("/hello", "Connection: keep-alive, close")},
		{"close in a second Connection field", get("/hello", "Connection: keep-alive", "Connection: close")},
		{"HTTP/1.0 with Connection: keep-alive, close", "GET /hello HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *spec.T) {
			c := t.Dial()
			r := roundTrip(t, c, tc.req, "200 OK with Connection: close, then the server closes the connection")
			wantStatus(t, r, tc.req, 200)
			wantBody(t, r, tc.req, hello)
			wantClose(t, c, r, tc.req)
		})
	}
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
	afterHead(t, c)
}

// afterHead checks that nothing follows the response to a HEAD request on c, and that c then carries a GET.
func afterHead(t *spec.T, c *harness.Conn) {
	if err := c.ExpectQuiet(quietWait); err != nil {
		if len(c.Buffered()) > 0 {
			t.Fatalf("after the HEAD response: %v; a HEAD response has no body, streamed or not: the client reads the bytes after its headers as the next response", err)
		}
		t.Fatalf("after the HEAD response: %v", err)
	}
	next := get("/hello")
	r := roundTrip(t, c, next, "200 OK on the same connection after the HEAD")
	wantStatus(t, r, next, 200)
	wantBody(t, r, next, hello)
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
		t.Run("a path decoded once", func(t *spec.T) {
			// %2520 is "%20" encoded: decoded once, the path keeps a "%20".
			req := get("/no%20such%2520page")
			r := roundTrip(t, t.Dial(), req, `404 Not Found, naming the path decoded once: "/no such%20page"`)
			wantStatus(t, r, req, 404)
			if !strings.HasSuffix(strings.TrimSpace(string(r.Body)), " /no such%20page") {
				t.Errorf("%s: the app answered %q, want the path decoded once: %q", firstLine(req), strings.TrimSpace(string(r.Body)), "/no such%20page")
			}
		})
		t.Run("an absolute-form target", func(t *spec.T) {
			req := "GET http://127.0.0.1:" + port + "/env?x=1 HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n\r\n"
			r := roundTrip(t, t.Dial(), req, "200 OK and the environ of /env?x=1: a server must accept the absolute form")
			wantStatus(t, r, req, 200)
			want := map[string]string{"PATH_INFO": "/env", "QUERY_STRING": "x=1"}
			t.Diff(firstLine(req)+": unexpected values among the environ keys checked", want, pick(environ(t, r, req), keys(want)))
		})
		t.Run("an HTTP/1.0 request", func(t *spec.T) {
			req := "GET /env HTTP/1.0\r\n\r\n"
			r := roundTrip(t, t.Dial(), req, "200 OK and the environ, with SERVER_PROTOCOL HTTP/1.0")
			wantStatus(t, r, req, 200)
			want := map[string]string{"SERVER_PROTOCOL": "HTTP/1.0"}
			t.Diff(firstLine(req)+": unexpected values among the environ keys checked", want, pick(environ(t, r, req), keys(want)))
		})
		t.Run("names in lower case", func(t *spec.T) {
			req := "GET /env HTTP/1.1\r\n" + hostHeader + "content-type: text/plain\r\ncontent-length: 0\r\n\r\n"
			r := roundTrip(t, t.Dial(), req, "200 OK and the environ, with CONTENT_TYPE text/plain")
			wantStatus(t, r, req, 200)
			want := map[string]string{"CONTENT_TYPE": "text/plain", "HTTP_CONTENT_TYPE": "(missing)"}
			t.Diff(firstLine(req)+": unexpected values among the environ keys checked", want, pick(environ(t, r, req), keys(want)))
		})
		t.Run("the app's body closed", func(t *spec.T) {
			req := get("/hello")
			r := roundTrip(t, t.Dial(), req, "200 OK, and the app's body closed once the response is written")
			wantStatus(t, r, req, 200)
			// The server closes the body as it ends the response, which the client may see a moment before.
			var s poolStats
			for deadline := time.Now().Add(time.Second); ; time.Sleep(50 * time.Millisecond) {
				if s = readStats(t, false); s.Inflight == 0 || time.Now().After(deadline) {
					break
				}
			}
			if s.Inflight != 0 {
				t.Errorf("%s was answered, yet a second later GET /stats counts %d calls of the app still in flight: the server must "+
					"close the body the app returned once the response is written (PEP 3333)", firstLine(req), s.Inflight)
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
	for _, path := range []string{"/error", "/panic"} {
		t.Run("GET "+path, func(t *spec.T) {
			c := t.Dial()
			req := get(path)
			r := roundTrip(t, c, req, "500 Internal Server Error")
			wantStatus(t, r, req, 500)
			c.Close() // a blocking server would wait on it before taking the next connection

			next := get("/hello")
			r = roundTrip(t, t.Dial(), next, "200 OK on a new connection: the server survived the app's failure")
			wantStatus(t, r, next, 200)
			wantBody(t, r, next, hello)
		})
	}
}

func checkMalformed(t *spec.T) {
	// CRLFs after the garbage make sure the server has whole lines to refuse, not a line it waits to finish.
	garbage := string(harness.Garbage(256, t.Seed())) + "\r\n\r\n"
	cases := []struct{ name, req string }{
		{"garbage bytes", garbage},
		{"a request line without a version", "GET /hello\r\n" + hostHeader + "\r\n"},
		{"a bad version", "GET /hello HTTP/1.x\r\n" + hostHeader + "\r\n"},
		{"a header line without a colon", "GET /hello HTTP/1.1\r\n" + hostHeader + "X-No-Colon value\r\n\r\n"},
		{"a space before the colon", "GET /hello HTTP/1.1\r\n" + hostHeader + "X-Space : value\r\n\r\n"},
		{"a control character in a value", "GET /hello HTTP/1.1\r\n" + hostHeader + "X-Ctl: a\x00b\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *spec.T) {
			if tc.req == garbage {
				t.Logf("256 random bytes of seed %d (-seed %d sends the same)", t.Seed(), t.Seed())
			}
			c := t.Dial()
			r := roundTrip(t, c, tc.req, "400 Bad Request (or another 4xx) with Connection: close, then the close")
			wantClientError(t, r, tc.req)
			wantClose(t, c, r, tc.req)
		})
	}
	t.Run("another major version", func(t *spec.T) {
		req := "GET /hello HTTP/2.0\r\n" + hostHeader + "\r\n"
		c := t.Dial()
		r := roundTrip(t, c, req, "505 HTTP Version Not Supported with Connection: close, then the close")
		wantStatus(t, r, req, 505)
		wantClose(t, c, r, req)
	})
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
	t.Run("a line just over 8 KiB", func(t *spec.T) {
		req := get("/" + strings.Repeat("a", 8200)) // 8214 bytes without the CRLF
		refused(t, req, 414, "414 URI Too Long")
	})
	t.Run("a line that never ends", func(t *spec.T) {
		endless(t, "GET /", 414, "414 URI Too Long as soon as the line passes 8 KiB")
	})
}

func checkManyHeaders(t *spec.T) {
	var hs []string
	for i := range 100 {
		hs = append(hs, fmt.Sprintf("X-Field-%d: 1", i+1))
	}
	// 101 fields in about 1.5 KiB: one over the count limit, under the size limit.
	refused(t, get("/hello", hs...), 431, "431 Request Header Fields Too Large (101 fields, one over the limit of 100)")
}

func checkBigHeaders(t *spec.T) {
	t.Run("17 fields of 500 bytes", func(t *spec.T) {
		var hs []string
		for i := range 17 {
			hs = append(hs, fmt.Sprintf("X-Big-%d: %s", i+1, strings.Repeat("0", 500)))
		}
		// 18 fields in about 8.5 KiB: under the count limit, over the size limit however the line ends are counted.
		refused(t, get("/hello", hs...), 431, "431 Request Header Fields Too Large (about 8.5 KiB of headers, over the limit of 8 KiB)")
	})
	t.Run("line ends counted", func(t *spec.T) {
		// Host (15 bytes), 15 fields of 510 and one of 515: 8,180 bytes without their line ends, under the limit;
		// 8,214 with them, over it.
		var hs []string
		for i := range 15 {
			hs = append(hs, fmt.Sprintf("X-Big-%02d: %s", i+1, strings.Repeat("0", 500)))
		}
		hs = append(hs, "X-Pad: "+strings.Repeat("0", 508))
		refused(t, get("/hello", hs...), 431, "431 Request Header Fields Too Large (8,214 bytes of field lines with their CRLFs, 8,180 without)")
	})
	t.Run("a field line that never ends", func(t *spec.T) {
		endless(t, "GET /hello HTTP/1.1\r\n"+hostHeader+"X-Endless: ", 431, "431 Request Header Fields Too Large as soon as the section passes 8 KiB")
	})
	t.Run("a field line that never ends, in pieces", func(t *spec.T) {
		endlessInPieces(t, "GET /hello HTTP/1.1\r\n"+hostHeader+"X-Endless: ", 431, "431 Request Header Fields Too Large as soon as the section passes 8 KiB")
	})
}

func checkBodyLimit(t *spec.T) {
	t.Run("by Content-Length", func(t *spec.T) {
		c := t.Dial()
		req := request("POST", "/echo", "", fmt.Sprintf("Content-Length: %d", maxBody1+1))
		send(t, c, req, "413 Content Too Large at once, before any body byte is sent: one byte over -max-body")
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
	t.Run("the refused body is not read as a request", func(t *spec.T) {
		c := t.Dial()
		// The first bytes of the refused body look like a request: a server that goes on reading the
		// connection after the 413 answers them.
		req := request("POST", "/echo", get("/pid"), fmt.Sprintf("Content-Length: %d", 2*maxBody1))
		r := roundTrip(t, c, req, "413 Content Too Large, then nothing more: no answer to the start of the body")
		wantStatus(t, r, req, 413)
		wantNoMore(t, c, "the 413")
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
		// -max-body in chunks of 64 KiB, then one byte more.
		data := strings.Repeat("x", 64<<10)
		piece := fmt.Sprintf("%X\r\n%s\r\n", len(data), data)
		total := 0
		err := c.SendString(head)
		for ; err == nil && total < maxBody1; total += len(data) {
			err = c.SendString(piece)
		}
		if err == nil {
			err = c.SendString("1\r\nx\r\n0\r\n\r\n")
		}
		want := fmt.Sprintf("413 Content Too Large once the body passes -max-body (%d bytes)", maxBody1)
		a := <-answered
		sent := fmt.Sprintf("%s%X\r\nxxxx... (%d chunks of %d bytes, then one of 1 byte)", head, len(data), total/len(data), len(data))
		if a.err != nil {
			t.Expect(sent, "", want)
			if err != nil {
				t.Fatalf("%s with a %d-byte chunked body: sending stopped (%v), and no 413 came: %v", firstLine(head), maxBody1+1, err, a.err)
			}
			t.Fatalf("%s with a %d-byte chunked body: %v", firstLine(head), maxBody1+1, a.err)
		}
		t.Expect(sent, string(a.r.Raw), want)
		wantStatus(t, a.r, head, 413)
	})
}

func checkUnknownCoding(t *spec.T) {
	t.Run("frobnicate, chunked", func(t *spec.T) {
		req := request("POST", "/echo", chunked([]chunk{{data: "hello"}}), "Transfer-Encoding: frobnicate, chunked")
		refused(t, req, 501, "501 Not Implemented: frobnicate is no transfer coding the server knows")
	})
	t.Run("chunked, then frobnicate in a second field", func(t *spec.T) {
		c := t.Dial()
		req := request("POST", "/echo", chunked([]chunk{{data: "hello"}}), "Transfer-Encoding: chunked", "Transfer-Encoding: frobnicate") + get("/hello")
		r := roundTrip(t, c, req, "501 Not Implemented (or 400 Bad Request) with Connection: close, then the close: the last coding is frobnicate")
		wantStatusIn(t, r, req, 501, 400)
		wantClose(t, c, r, req)
	})
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
	t.Run("a slowloris head", cutOff)
	t.Run("a pause, then a head in pieces", func(t *spec.T) {
		// The head starts 500 ms after the connection and ends 600 ms later: 1.1 s after the connection,
		// 0.6 s after its first byte (-header-timeout is 1s).
		const pause, every = 500 * time.Millisecond, 300 * time.Millisecond
		pieces := []string{"GET /hello HTTP/1.1\r\n", hostHeader, "\r\n"}
		c := t.Dial()
		req := strings.Join(pieces, "")
		want := "200 OK: the head came whole 0.6 s after its first byte, within -header-timeout (1s)"
		t.Expect(req+fmt.Sprintf(" (in %d pieces %v apart, the first %v after the connection)", len(pieces), every, pause), "", want)
		time.Sleep(pause)
		for i, p := range pieces {
			if i > 0 {
				time.Sleep(every)
			}
			if err := c.SendString(p); err != nil {
				t.Fatalf("%s, sent in %d pieces %v apart after a pause of %v: piece %d: %v", firstLine(req), len(pieces), every, pause, i+1, err)
			}
		}
		r := read(t, c, req, want)
		wantStatus(t, r, req, 200)
		wantBody(t, r, req, hello)
	})
}

// cutOff trickles a request head two bytes every 200 ms and checks that the server closes the connection
// within a few header timeouts.
func cutOff(t *spec.T) {
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

// pipeline sends reqs in one write on a new connection and checks that the responses have the bodies want,
// in order, and that nothing follows them.
func pipeline(t *spec.T, reqs []string, want []string) { pipelineApart(t, reqs, want, 0) }

// pipelineApart is pipeline with the requests sent gap apart, on the one connection, without waiting for the
// answers; with no gap, in one write.
func pipelineApart(t *spec.T, reqs []string, want []string, gap time.Duration) {
	c := t.Dial()
	all := strings.Join(reqs, "")
	expected := fmt.Sprintf("%d responses, in order, with the bodies %q", len(want), want)
	how := "in one write"
	if gap == 0 {
		send(t, c, all, expected)
	} else {
		how = fmt.Sprintf("%v apart", gap)
		for i, req := range reqs {
			if i > 0 {
				time.Sleep(gap)
			}
			send(t, c, req, expected)
		}
	}
	rs, err := c.ReadResponses(len(want), answerWait)
	if err != nil {
		t.Expect(all, string(c.Buffered()), expected)
		t.Fatalf("%d requests sent %s: %d responses came back, then: %v", len(reqs), how, len(rs), err)
	}
	var raw strings.Builder
	var bodies []string
	for _, r := range rs {
		raw.Write(r.Raw)
		bodies = append(bodies, string(r.Body))
	}
	t.Expect(all, raw.String(), expected)
	if t.Diff(fmt.Sprintf("the bodies of the %d responses are wrong or out of order", len(want)), want, bodies) {
		wantQuiet(t, c, fmt.Sprintf("the %d responses", len(want)))
	}
}

// endless sends head, then a line of 64 KiB that never ends, and checks that the server answers code at once:
// a server that reads the whole line before it counts waits for an end that never comes.
func endless(t *spec.T, head string, code int, want string) {
	line := head + strings.Repeat("a", 64<<10)
	endlessSent(t, head, code, want, "64 KiB without an end of line", func(c *harness.Conn) { c.SendString(line) })
}

// endlessInPieces is endless with a line of 16 KiB sent 1 KiB at a time, 25 ms apart: each read of the server
// brings 1 KiB, so a limit checked on what one read brought, not on the line so far, is never passed.
func endlessInPieces(t *spec.T, head string, code int, want string) {
	piece := strings.Repeat("a", 1<<10)
	endlessSent(t, head, code, want, "16 KiB without an end of line, 1 KiB every 25 ms", func(c *harness.Conn) {
		if c.SendString(head) != nil {
			return
		}
		for range 16 {
			time.Sleep(25 * time.Millisecond)
			if c.SendString(piece) != nil {
				return
			}
		}
	})
}

// endlessSent sends head and a line that never ends, as described by what, with send, and checks that the
// server answers code.
func endlessSent(t *spec.T, head string, code int, want, what string, send func(c *harness.Conn)) {
	c := t.Dial()
	t.Expect(head+"aaa... ("+what+")", "", want)
	// The server may answer and close before it has read all: send in the background, and read.
	go send(c)
	r, err := c.ReadResponse(answerWait, false)
	var re *harness.ReadError
	switch {
	case errors.As(err, &re) && len(re.Got) == 0:
		t.Fatalf("%s... (%s): no answer (%v): count the bytes as they come and answer %d "+
			"as soon as the limit is passed, without waiting for the end of the line", firstLine(head), what, err, code)
	case err != nil:
		t.Fatalf("%s... (%s): %v", firstLine(head), what, err)
	}
	t.Expect(head+"aaa... ("+what+")", string(r.Raw), want)
	wantStatus(t, r, head, code)
}

// smuggled is a request hidden in a body: a server that reads the body as the next request answers it.
const smuggled = "GET /pid HTTP/1.1\r\n" + hostHeader + "\r\n"

func checkUnreadBody(t *spec.T) {
	cases := []struct {
		name, req string
		code      int
	}{
		{"POST /hello with a body: 405", request("POST", "/hello", smuggled, fmt.Sprintf("Content-Length: %d", len(smuggled))), 405},
		{"GET /hello with a body", request("GET", "/hello", smuggled, fmt.Sprintf("Content-Length: %d", len(smuggled))), 200},
		{"GET /hello with a chunked body", request("GET", "/hello", chunked([]chunk{{data: smuggled}}), "Transfer-Encoding: chunked"), 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *spec.T) {
			c := t.Dial()
			all := tc.req + get("/hello")
			want := fmt.Sprintf("%d %s to the first request (whose body the app does not read), then 200 OK with \"Hello, World!\\n\" "+
				"to the GET after it, or a close after the first response", tc.code, harness.Reason(tc.code))
			send(t, c, all, want)
			r := read(t, c, all, want)
			wantStatus(t, r, tc.req, tc.code)
			if r.HasToken("Connection", "close") {
				if err := c.ExpectClosed(closeWait); err != nil {
					t.Errorf("%s: the response says Connection: close, but: %v", firstLine(tc.req), err)
				}
				return
			}
			next := read(t, c, all, want)
			if next.Status != 200 || string(next.Body) != hello {
				t.Fatalf("the GET /hello after %s got %s %q, not \"Hello, World!\\n\": the body of the first request, which the app "+
					"did not read, was taken for the next request (here GET /pid); skip what the app leaves of a body",
					firstLine(tc.req), status(next), clip(next.Body))
			}
			wantQuiet(t, c, "the two responses")
		})
	}
}

// clip shortens a body for a message.
func clip(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}

// refusedFraming sends req (a request whose framing is invalid, then a GET) and checks that the answer is one
// of codes with Connection: close, then the close: whichever way the body might be framed, nothing after the
// head may be read as a request.
func refusedFraming(t *spec.T, req string, codes ...int) {
	c := t.Dial()
	var want []string
	for _, code := range codes {
		want = append(want, fmt.Sprintf("%d %s", code, harness.Reason(code)))
	}
	r := roundTrip(t, c, req, strings.Join(want, " or ")+" with Connection: close, then the close; no answer to the GET after the body")
	wantStatusIn(t, r, req, codes...)
	wantClose(t, c, r, req)
}

func checkBadLength(t *spec.T) {
	cases := []struct {
		name, value, body string
		codes             []int
	}{
		{"+5", "+5", "hello", []int{400}},
		// A server that takes -1 for "no length" may frame the body as chunked.
		{"-1", "-1", chunked([]chunk{{data: "hello"}}), []int{400}},
		{"0x5", "0x5", "hello", []int{400}},
		{"a list with +5", "5, +5", "hello", []int{400}},
		// 2^64 + 5: a digit loop that overflows a 64-bit integer reads it as 5.
		{"a length of 20 digits", "18446744073709551621", "hello", []int{400, 413}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *spec.T) {
			refusedFraming(t, request("POST", "/echo", tc.body, "Content-Length: "+tc.value)+get("/hello"), tc.codes...)
		})
	}
}

func checkBadChunks(t *spec.T) {
	cases := []struct {
		name, body string
		codes      []int
	}{
		{"a size of 0x5", "0x5\r\nhello\r\n0\r\n\r\n", []int{400}},
		{"data not followed by CRLF", "5\r\nhello!!0\r\n\r\n", []int{400}},
		// Read as "hello", then a chunk "abc", by a parser that takes any byte after the data for its line end.
		{"data one byte longer than its size", "5\r\nhelloX3\r\nabc\r\n0\r\n\r\n", []int{400}},
		{"a trailer field with white space before its colon", "5\r\nhello\r\n0\r\nX-Bad : 1\r\n\r\n", []int{400}},
		// 2^64 + 5: a hex loop that overflows a 64-bit integer reads it as 5.
		{"a size of 17 hex digits", "10000000000000005\r\nhello\r\n0\r\n\r\n", []int{400, 413}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *spec.T) {
			refusedFraming(t, request("POST", "/echo", tc.body, "Transfer-Encoding: chunked")+get("/hello"), tc.codes...)
		})
	}
}

func checkFramingCase(t *spec.T) {
	cases := []struct{ name, req string }{
		{"content-length in lower case", request("POST", "/echo", "hello", "content-length: 5")},
		{"TRANSFER-ENCODING: Chunked", request("POST", "/echo", chunked([]chunk{{data: "hello"}}), "TRANSFER-ENCODING: Chunked")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *spec.T) {
			pipeline(t, []string{tc.req, get("/hello")}, []string{"hello", hello})
		})
	}
	t.Run("POST without a length", func(t *spec.T) {
		c := t.Dial()
		req := "POST /echo HTTP/1.1\r\n" + hostHeader + "\r\n"
		r := roundTrip(t, c, req, "200 OK with an empty body at once (or 411 Length Required): a request without Content-Length or Transfer-Encoding has no body")
		wantStatusIn(t, r, req, 200, 411)
		if r.Status == 200 {
			wantBody(t, r, req, "")
		}
	})
}

func checkUnderLimits(t *spec.T) {
	long := func(name, header string, n int) {
		t.Run(name, func(t *spec.T) {
			value := strings.Repeat("q", n)
			target, key, want := "/env?q="+value, "QUERY_STRING", "q="+value
			var hs []string
			if header != "" {
				target, key, want = "/env", "HTTP_X_LONG", value
				hs = append(hs, header+": "+value)
			}
			req := get(target, hs...)
			r := roundTrip(t, t.Dial(), req, fmt.Sprintf("200 OK and the environ, with %s of %d bytes", key, len(want)))
			wantStatus(t, r, req, 200)
			if got := environ(t, r, req)[key]; got != want {
				t.Errorf("%s: %s has %d bytes, want the %d sent", firstLine(req), key, len(got), len(want))
			}
		})
	}
	// 7600 bytes: longer than a 4 KiB read buffer, under the 8 KiB limits however they are counted.
	long("a 7.5 KiB request line", "", 7600)
	long("an 8 KiB request line", "", maxLine1-len("GET /env?q= HTTP/1.1")) // the limit itself
	long("a 7.5 KiB header field", "X-Long", 7600)
	t.Run("100 header fields", func(t *spec.T) {
		var hs []string
		for i := range 99 {
			hs = append(hs, fmt.Sprintf("X-Field-%d: 1", i+1))
		}
		req := get("/hello", hs...)
		r := roundTrip(t, t.Dial(), req, "200 OK: 100 fields (Host and 99 more) are the most allowed, not too many")
		wantStatus(t, r, req, 200)
	})
	body := strings.Repeat("m", maxBody1)
	bodies := []struct{ name, req string }{
		{"a body of -max-body bytes", request("POST", "/echo", body, fmt.Sprintf("Content-Length: %d", maxBody1))},
		{"a chunked body of -max-body bytes", request("POST", "/echo",
			chunked(slices.Repeat([]chunk{{data: body[:maxBody1/16]}}, 16)), "Transfer-Encoding: chunked")},
	}
	for _, tc := range bodies {
		t.Run(tc.name, func(t *spec.T) {
			c := t.Dial()
			want := fmt.Sprintf("200 OK with the %d bytes echoed: -max-body (%d) is the largest body allowed", maxBody1, maxBody1)
			t.Expect(tc.req[:strings.Index(tc.req, "\r\n\r\n")+4]+"mmmm...", "", want)
			if err := c.SendString(tc.req); err != nil {
				t.Fatalf("%s with a body of %d bytes: %v", firstLine(tc.req), maxBody1, err)
			}
			r, err := c.ReadResponse(answerWait, false)
			if err != nil {
				t.Fatalf("%s with a body of %d bytes: %v", firstLine(tc.req), maxBody1, err)
			}
			head, _, _ := strings.Cut(string(r.Raw), "\r\n\r\n")
			t.Expect(tc.req[:strings.Index(tc.req, "\r\n\r\n")+4]+"mmmm...", head+"\r\n\r\n...", want)
			wantStatus(t, r, tc.req, 200)
			if string(r.Body) != body {
				t.Errorf("%s: the echo has %d bytes, not the %d sent", firstLine(tc.req), len(r.Body), maxBody1)
			}
		})
	}
}

// alphabet returns the first n bytes of the body /stream and /big send: 'a' to 'z', repeated.
func alphabet(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return string(b)
}

// chunkSizes returns the sizes of the chunks of the chunked body in raw, a whole response the strict parser
// accepted, the last (0) chunk left out.
func chunkSizes(raw []byte) []int64 {
	_, body, _ := strings.Cut(string(raw), "\r\n\r\n")
	var sizes []int64
	for {
		line, rest, _ := strings.Cut(body, "\r\n")
		hex, _, _ := strings.Cut(line, ";")
		n, err := strconv.ParseInt(strings.TrimSpace(hex), 16, 64)
		if err != nil || n == 0 || int64(len(rest)) < n+2 {
			return sizes
		}
		sizes = append(sizes, n)
		body = rest[n+2:]
	}
}

// The stream that spec 1.30 times: its first chunk must arrive well before its last is made.
const (
	streamChunks = 3
	streamGap    = 500 * time.Millisecond
	// streamSpread is how far apart the first and last body bytes must arrive, of the (streamChunks-1) *
	// streamGap the app takes between its first chunk and its last: half, so that a loaded machine that
	// delays the first chunk does not fail a server that streams, while one that holds the body back until
	// the end never comes close.
	streamSpread = (streamChunks - 1) * streamGap / 2
)

func checkStream(t *spec.T) {
	const target = "/stream?chunks=3&bytes=20"
	body := alphabet(60)
	t.Run("HTTP/1.1: chunked", func(t *spec.T) {
		c := t.Dial()
		req := get(target)
		r := roundTrip(t, c, req, "200 OK with Transfer-Encoding: chunked, no Content-Length, and the 60 bytes in chunks")
		wantStatus(t, r, req, 200)
		if !r.Chunked {
			t.Errorf("%s: the body is not chunked (Transfer-Encoding is %q, Content-Length %q): a body whose length the app "+
				"does not give is sent chunked to an HTTP/1.1 client", firstLine(req), r.Get("Transfer-Encoding"), r.Get("Content-Length"))
		}
		if cl := r.Get("Content-Length"); cl != "" {
			t.Errorf("%s: the response has Content-Length %q besides chunked", firstLine(req), cl)
		}
		wantBody(t, r, req, body)
		if r.Chunked {
			sizes := chunkSizes(r.Raw)
			t.Logf("chunk sizes: %v", sizes)
		}
		if t.Failed() {
			return
		}
		next := get("/hello")
		r = roundTrip(t, c, next, "200 OK on the same connection: the chunked body ended with its 0-size chunk, and nothing followed it")
		wantStatus(t, r, next, 200)
		wantBody(t, r, next, hello)
	})
	t.Run("HTTP/1.1: each chunk as it is made", func(t *spec.T) {
		c := t.Dial()
		req := get(fmt.Sprintf("/stream?chunks=%d&bytes=10&ms=%d", streamChunks, streamGap.Milliseconds()))
		want := fmt.Sprintf("200 OK, chunked, its %d chunks arriving %v apart as the app makes them", streamChunks, streamGap)
		send(t, c, req, want)
		r := readTimed(t, c, req, want, time.Now())
		wantStatus(t, r.Response, req, 200)
		wantBody(t, r.Response, req, alphabet(10*streamChunks))
		spread := r.complete - r.firstBody
		t.Logf("first body bytes after %v, the last after %v", r.firstBody.Round(time.Millisecond), r.complete.Round(time.Millisecond))
		if spread < streamSpread {
			t.Errorf("%s: the body arrived all at once, %v after the request (its first bytes only %v before its last), though the app "+
				"took %v between its first chunk and its last: the server held the chunks back instead of sending each as it was made",
				firstLine(req), r.complete.Round(time.Millisecond), spread.Round(time.Millisecond), (streamChunks-1)*streamGap)
		}
	})
	for _, tc := range []struct{ name, conn string }{
		{"HTTP/1.0: until the close", ""},
		{"HTTP/1.0 keep-alive: until the close", "Connection: keep-alive\r\n"},
	} {
		t.Run(tc.name, func(t *spec.T) {
			c := t.Dial()
			req := "GET " + target + " HTTP/1.0\r\n" + tc.conn + "\r\n"
			r := roundTrip(t, c, req, "200 OK, not chunked, with the 60 bytes, and the close after them")
			wantStatus(t, r, req, 200)
			if r.Chunked || r.Get("Transfer-Encoding") != "" {
				t.Fatalf("%s: the response has Transfer-Encoding %q, which an HTTP/1.0 client does not know: it would take the "+
					"chunk sizes for data", firstLine(req), r.Get("Transfer-Encoding"))
			}
			wantBody(t, r, req, body)
			if r.Get("Content-Length") != "" {
				return // the server knew the length after all: nothing more to check
			}
			if r.HasToken("Connection", "keep-alive") {
				t.Errorf("%s: the response says Connection: keep-alive, but has no length: its body can only end with the close", firstLine(req))
			}
			if err := c.ExpectClosed(closeWait); err != nil {
				t.Errorf("%s: a body without a length ends when the connection closes: %v", firstLine(req), err)
			}
		})
	}
	t.Run("HEAD: no body", func(t *spec.T) {
		c := t.Dial()
		req := request("HEAD", target, "")
		r := roundTrip(t, c, req, "200 OK and no body at all, not even a chunk")
		wantStatus(t, r, req, 200)
		afterHead(t, c)
	})
}

// continueWait is how long a client that sent Expect: 100-continue waits for 100 Continue. curl waits 1 s,
// then sends the body anyway; the grader waits longer, for a loaded machine.
const continueWait = 2 * time.Second

func checkExpect(t *spec.T) {
	const body = "hello world"
	for _, expect := range []string{"100-continue", "100-Continue"} {
		name := "the client waits for 100 Continue"
		if expect != "100-continue" {
			name = "100-Continue in another case"
		}
		t.Run(name, func(t *spec.T) {
			c := t.Dial()
			head := request("POST", "/echo", "", "Expect: "+expect, fmt.Sprintf("Content-Length: %d", len(body)))
			send(t, c, head, "HTTP/1.1 100 Continue at once, before the body is sent")
			r, err := c.ReadResponse(continueWait, false)
			var re *harness.ReadError
			switch {
			case errors.As(err, &re) && re.Timeout():
				t.Expect(head, string(re.Got), "HTTP/1.1 100 Continue at once, before the body is sent")
				t.Fatalf("%s with Expect: %s: no 100 Continue within %v; the client waits for it before sending its body "+
					"(curl gives up after 1 s, other clients wait longer)", firstLine(head), expect, continueWait)
			case err != nil:
				t.Fatalf("%s with Expect: %s: %v", firstLine(head), expect, err)
			}
			t.Expect(head, string(r.Raw), "HTTP/1.1 100 Continue at once, before the body is sent")
			if r.Status != 100 {
				t.Fatalf("%s with Expect: %s: got %s before the body was sent, want 100 Continue", firstLine(head), expect, status(r))
			}
			send(t, c, body, "200 OK with the body echoed, after the 100 Continue")
			r = read(t, c, head+body, "200 OK with the body echoed, after the 100 Continue")
			wantStatus(t, r, head, 200)
			wantBody(t, r, head, body)
		})
	}
	t.Run("the body sent at once", func(t *spec.T) {
		c := t.Dial()
		req := request("POST", "/echo", body, "Expect: 100-continue", fmt.Sprintf("Content-Length: %d", len(body))) + get("/hello")
		want := "maybe 100 Continue, then 200 OK with the body echoed, then 200 OK to the GET, and nothing more"
		send(t, c, req, want)
		r := read(t, c, req, want)
		if r.Status == 100 {
			r = read(t, c, req, want)
		}
		wantStatus(t, r, req, 200)
		wantBody(t, r, req, body)
		next := read(t, c, req, want)
		wantStatus(t, next, "GET /hello HTTP/1.1", 200)
		wantBody(t, next, "GET /hello HTTP/1.1", hello)
		wantQuiet(t, c, "the two responses")
	})
	t.Run("an unknown expectation", func(t *spec.T) {
		req := request("POST", "/echo", "hello", "Expect: something-else", "Content-Length: 5")
		refused(t, req, 417, "417 Expectation Failed")
	})
	for _, tc := range []struct{ name, expect string }{
		{"HTTP/1.0: 100-continue ignored", "100-continue"},
		{"HTTP/1.0: an unknown expectation ignored", "something-else"},
	} {
		t.Run(tc.name, func(t *spec.T) {
			req := "POST /echo HTTP/1.0\r\nExpect: " + tc.expect + "\r\nContent-Length: 5\r\n\r\nhello"
			r := roundTrip(t, t.Dial(), req, "200 OK with the body echoed, and no 1xx or 417 before it: Expect means nothing in HTTP/1.0")
			wantStatus(t, r, req, 200)
			wantBody(t, r, req, "hello")
		})
	}
}

func checkResets(t *spec.T) {
	served := func(t *spec.T, after string) {
		next := get("/hello")
		r := roundTrip(t, t.Dial(), next, "200 OK on a new connection, after "+after)
		wantStatus(t, r, next, 200)
		wantBody(t, r, next, hello)
	}
	t.Run("a reset in the head", func(t *spec.T) {
		req := get("/hello", "X-Pad: "+strings.Repeat("p", 200))
		t.Expect(req[:len(req)/2]+" (then RST)", "", "the server drops the connection and serves the next one")
		if err := harness.ResetMidRequest(t.Addr(), []byte(req)); err != nil {
			t.Fatalf("%v", err)
		}
		served(t, "a client reset the connection in the middle of its head")
	})
	t.Run("a reset in the body", func(t *spec.T) {
		req := request("POST", "/echo", strings.Repeat("b", 2000), "Content-Length: 2000")
		t.Expect(req[:len(req)/2]+" (then RST)", "", "the server drops the connection and serves the next one")
		if err := harness.ResetMidRequest(t.Addr(), []byte(req)); err != nil {
			t.Fatalf("%v", err)
		}
		served(t, "a client reset the connection in the middle of its body")
	})
	t.Run("a reset in the response", func(t *spec.T) {
		const size, after = 64 << 20, 64 << 10
		req := get(fmt.Sprintf("/big?bytes=%d", size))
		t.Expect(req, fmt.Sprintf("(%d bytes of the response, then RST)", after), "the server stops writing, drops the connection and serves the next one")
		if _, err := harness.ResetMidResponse(t.Addr(), []byte(req), after, answerWait); err != nil {
			t.Fatalf("%v", err)
		}
		served(t, "a client reset the connection in the middle of a response")
	})
}

func checkSilent(t *spec.T) {
	const tooSoon, tooLate = 500 * time.Millisecond, 3500 * time.Millisecond // -header-timeout is 1s
	silent := t.Dial()
	start := time.Now()
	// A client behind the silent one: a blocking server serves it once the silent one is closed.
	c := t.Dial()
	req := get("/hello")
	send(t, c, req, "200 OK within about 1s (-header-timeout 1s), once the silent connection before it is closed")
	if err := silent.ExpectQuiet(tooSoon); err != nil {
		t.Fatalf("a connection that has sent nothing was closed %v after it was opened: -header-timeout is 1s: %v",
			time.Since(start).Round(time.Millisecond), err)
	}
	if err := silent.ExpectClosed(tooLate - time.Since(start)); err != nil {
		t.Errorf("a connection that sends nothing must be closed after -header-timeout (1s): %v", err)
	} else {
		t.Logf("the silent connection was closed %v after it was opened", time.Since(start).Round(time.Millisecond))
	}
	r := read(t, c, req, "200 OK once the silent connection is closed")
	wantStatus(t, r, req, 200)
	wantBody(t, r, req, hello)
}

func checkPerRequestDeadlines(t *spec.T) {
	t.Run("a slow upload within -body-timeout", func(t *spec.T) {
		// 6 bytes over 0.9 s: longer than -header-timeout (500ms), well within -body-timeout (1500ms).
		const body, every = "123456", 150 * time.Millisecond
		c := t.Dial()
		head := request("POST", "/echo", "", fmt.Sprintf("Content-Length: %d", len(body)))
		want := "200 OK with the body echoed: the body has -body-timeout (1500ms) from the end of the head"
		send(t, c, head, want)
		if err := c.Trickle([]byte(body), 1, every); err != nil {
			t.Fatalf("%s, the body a byte every %v: %v", firstLine(head), every, err)
		}
		r := read(t, c, head+body, want)
		wantStatus(t, r, head, 200)
		wantBody(t, r, head, body)
	})
	t.Run("one connection used for longer than every timeout", func(t *spec.T) {
		// 4 requests 700 ms apart: the connection lives 2.1 s, longer than -header-timeout (500ms) and than
		// -body-timeout (1500ms) plus -write-timeout (300ms), while no wait is longer than -idle-timeout (2s).
		const n, gap = 4, 700 * time.Millisecond
		c := t.Dial()
		start := time.Now()
		for i := range n {
			if i > 0 {
				time.Sleep(gap)
			}
			req := get("/hello")
			r := roundTrip(t, c, req, fmt.Sprintf("request %d of %d, %v after the first, answered on the same connection", i+1, n, time.Since(start).Round(100*time.Millisecond)))
			wantStatus(t, r, req, 200)
			wantBody(t, r, req, hello)
			wantKeptOpen(t, r, req)
		}
	})
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
