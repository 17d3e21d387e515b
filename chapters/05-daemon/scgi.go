package main

import (
	"bufio"
	"fmt"
	"io"

	"course/chapters/gateway"
	"course/chapters/scgi"
)

// Steps 1 and 2: SCGI, the front end's half (README: "Step 1: the request on the wire", "Step 2: the answer").

// writeRequest sends the request env describes to w, the connection to a daemon, in SCGI
// (python.ca/scgi/protocol.txt): first a netstring, "<length>:<bytes>,", whose bytes are the CGI variables of
// env.Vars, each name and each value followed by a NUL byte, CONTENT_LENGTH first and SCGI with the value 1
// second, the others in any order; then the body, read from env.Input, exactly CONTENT_LENGTH bytes of it.
//
// A request the client sent chunked has no length yet (env.Vars["CONTENT_LENGTH"] is ""): read its whole
// body first (the client's body reader already bounds it: a body over -max-body fails with its 413, which
// must be returned as it is), and send the length you counted. A variable that holds a NUL byte cannot be
// sent (a path such as /a%00b decodes to one): return an error whose status is 400 (failWith, in status.go).
// The wsgi.* entries are not sent: they are not in Vars, and they describe the daemon, which sets its own.
func writeRequest(w io.Writer, env *gateway.Environ) error {
	// TODO (step 1)
	return notWritten(1, "writeRequest in scgi.go")
}

// readResponse reads the head of a daemon's answer from br, a CGI response (RFC 3875 section 6): header
// lines up to an empty line, each ending in CRLF or a bare LF. It returns the status ("404 Not Found") and its
// code from the Status field, or 200 OK when there is none, or 302 Found when there is a Location field and no
// Status (section 6.2.3); the other fields in the order they came (http1.ParseField parses a line), without
// Connection and Keep-Alive, which were about the connection to the daemon, not about the response; and, as
// the Body, br itself: the body is what follows, until the daemon closes the connection.
//
// A connection that ends (io.EOF) before the empty line, as when the daemon crashed or was killed, is an
// error whose status is 502 (Bad Gateway), and so is a line that is not a header field, or a Status that is
// not a code from 200 to 599 and a reason. Any other error of br, such as a read deadline that passed, is
// returned as it is (or wrapped with %w): app tells a daemon that stopped talking by it (step 6).
func readResponse(br *bufio.Reader) (*scgi.Response, error) {
	// TODO (step 2)
	return nil, notWritten(2, "readResponse in scgi.go")
}

// notWritten is what the starter answers until a step is written.
func notWritten(step int, what string) error {
	return fmt.Errorf("step %d is not written yet: see the TODO of %s", step, what)
}
