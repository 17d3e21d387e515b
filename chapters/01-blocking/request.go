package main

import (
	"bufio"

	"course/chapters/gateway"
	"course/chapters/http1"
)

// readRequest reads one request from br: the request line, the header fields, and how its body is framed.
//
// It returns io.EOF when the client closed the connection before a request started, and an *http1.Error
// for a request the server must refuse (&http1.Error{Code: 400, Reason: "..."}), with the status to answer:
//
//   - a malformed request line or header field, an HTTP/1.1 request without Host, or any request with
//     several Host headers: 400;
//   - a request line over lim.MaxLine bytes: 414;
//   - more than lim.MaxHeaders header fields, or a header section over lim.MaxHeaderBytes bytes: 431;
//   - a body over lim.MaxBody bytes: 413 (by Content-Length at once; while reading a chunked body);
//   - a Transfer-Encoding other than chunked: 501;
//   - both Transfer-Encoding and Content-Length, or two different Content-Lengths: 400.
//
// req.Body must yield exactly the body: Content-Length bytes, or the decoded chunks of a chunked body
// (chunk extensions and trailer fields are read and dropped), and req.ContentLength is the declared length
// (-1 for chunked). A request without either header has an empty body.
func readRequest(br *bufio.Reader, lim http1.Limits) (*gateway.Request, error) {
	// TODO: parse the request (see the chapter's "Parsing the request" and "Framing the body").
	return nil, &http1.Error{Code: 501, Reason: "readRequest is not written yet (request.go)"}
}
