package main

import (
	"bufio"

	"course/chapters/gateway"
	"course/chapters/http1"
)

// readRequest reads one request head from br and sets up its body, which the caller reads from req.Body: the
// steps 3 to 7 put together. It returns io.EOF when the client closed the connection before a request
// started, and an *http1.Error, which carries the status to answer, for a request the server must refuse.
func readRequest(br *bufio.Reader, lim http1.Limits) (*gateway.Request, error) {
	req, err := readRequestLine(br, lim)
	if err != nil {
		return nil, err
	}
	if req.Header, err = readHeader(br, lim); err != nil {
		return nil, err
	}
	if err := checkHost(req); err != nil {
		return nil, err
	}
	if req.ContentLength, err = bodyLength(req, lim); err != nil {
		return nil, err
	}
	if req.ContentLength < 0 {
		req.Body = chunkedBody(br, lim)
	} else {
		req.Body = lengthBody(br, req.ContentLength)
	}
	return req, nil
}

// readRequestLine reads the request line, the first line of a request (RFC 9112 section 3), and returns a
// request with its Method, Target, Proto, Major and Minor set.
//
// Step 3 (README: "Step 3: the request line"). It must:
//   - read one line, ended by CRLF or by a bare LF, skipping up to three empty lines before it (section 2.2);
//   - accept only method SP request-target SP HTTP-version: a method that is a token (gateway.IsToken), a
//     target of visible ASCII characters (none below '!' or above '~'), and "HTTP/" digit "." digit
//     (section 2.3); anything else gets 400, and a major version other than 1 gets 505;
//   - refuse a line longer than lim.MaxLine bytes (its line ending not counted) with 414, reading no more of
//     it than the limit and a buffer: a client may send an endless line;
//   - return io.EOF when br ends before the request starts, and a 400 when it ends in the middle of the line.
//
// A refusal is an *http1.Error with the status: &http1.Error{Code: 400, Reason: "malformed request line"}.
func readRequestLine(br *bufio.Reader, lim http1.Limits) (*gateway.Request, error) {
	// TODO(step 3): the request line.
	return nil, &http1.Error{Code: 501, Reason: "step 3, readRequestLine (request.go), is not written yet"}
}

// readHeader reads the header section, the field lines after the request line up to the empty line that
// ends the head (RFC 9112 section 5), and returns the fields in the order they came, each name as sent and
// each value without the spaces and tabs around it.
//
// Step 4 (README: "Step 4: header fields"). It must refuse with 400:
//   - a line without a colon, a name that is not a token (gateway.IsToken), and whitespace between the name
//     and the colon (section 5.1);
//   - a line that starts with a space or a tab: obsolete line folding (section 5.2);
//   - a value with a control character other than a tab: a NUL, a CR not followed by LF, ... (section 5.5
//     of RFC 9110);
//   - a br that ends before the empty line;
//
// and with 431 more than lim.MaxHeaders fields, or field lines of more than lim.MaxHeaderBytes bytes in all,
// each counted with its CRLF (the empty line that ends the section is not counted). Like the request line,
// a header line is never read far beyond that limit. A bare LF may end a line, as in step 3.
func readHeader(br *bufio.Reader, lim http1.Limits) ([]gateway.Header, error) {
	// TODO(step 4): the header fields.
	return nil, &http1.Error{Code: 501, Reason: "step 4, readHeader (request.go), is not written yet"}
}

// checkHost refuses with 400 an HTTP/1.1 request that does not have exactly one Host field, and an HTTP/1.0
// request with more than one (RFC 9112 section 3.2). Field names match in any case: "host" is Host.
//
// Step 4, too.
func checkHost(req *gateway.Request) error {
	// TODO(step 4): the Host rule.
	return &http1.Error{Code: 501, Reason: "step 4, checkHost (request.go), is not written yet"}
}

// bodyLength decides how the body of the request whose head is req is framed, and returns its length: the
// Content-Length, -1 for a chunked body, and 0 when the request has neither (RFC 9112 section 6.3).
//
// Step 5 (README: "Step 5: the body's length"). Transfer-Encoding lists the codings applied to the body, in
// order, over one or several fields, separated by commas, in any case. It must refuse with 400:
//   - a request with both Transfer-Encoding and Content-Length (sections 6.1 and 6.3);
//   - Transfer-Encoding in an HTTP/1.0 request (section 6.1);
//   - codings whose last one is not chunked: the end of the body cannot be found (section 6.3);
//   - chunked listed more than once (section 6.1);
//   - a Content-Length that is not digits only ("+5" is not), or too long to be a length, or Content-Length
//     values that differ, over one or several fields and comma-separated within one (section 6.3, rule 5);
//     the same value repeated, as in "5, 5" or two fields of 5, is one length (RFC 9110 section 8.6);
//
// with 501 a coding other than chunked, before the final chunked (section 6.1: the server does not know it);
// and with 413 a Content-Length over lim.MaxBody.
func bodyLength(req *gateway.Request, lim http1.Limits) (int64, error) {
	// TODO(step 5): the body's length.
	return 0, &http1.Error{Code: 501, Reason: "step 5, bodyLength (request.go), is not written yet"}
}
