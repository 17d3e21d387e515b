// Package scgi speaks SCGI, the protocol between a web server and the daemon processes that run its
// application: chapter 5's front end hands each request over a UNIX socket to a daemon this way, as nginx's
// scgi_pass does and as Apache's mod_wsgi daemon mode does with a protocol of its own.
//
// The specification is two pages (Neil Schemenauer, python.ca/scgi/protocol.txt). The server connects and
// sends the request's CGI variables as one netstring (cr.yp.to/proto/netstrings.txt: the length in decimal, a
// colon, the bytes, a comma) of names and values each ended by a NUL byte, CONTENT_LENGTH first and SCGI=1
// among them; then the body, CONTENT_LENGTH bytes. The daemon answers and closes the connection: one request
// per connection. SCGI leaves the answer's form open; daemons send a CGI response (RFC 3875 section 6), a
// Status header, the other headers, a blank line and the body until the close.
//
//	70:CONTENT_LENGTH␀27␀SCGI␀1␀REQUEST_METHOD␀POST␀REQUEST_URI␀/deepthought␀,What is the answer to life?
//
// The front end's half is WriteRequest and ReadResponse; the daemon's half is ReadRequest, Respond, Refuse and
// WriteError. They speak in the course's gateway types, so that the request a front end has read (package http1) crosses
// the hop and becomes, in the daemon, the environ the application would have seen in the front end's own
// process.
//
// Chapter 5's learner writes the front end's half (this package is its reference answer) and is given the
// daemon's; package daemon builds the rest of daemon mode on top of it. It does not import package net,
// so that any server can use it over any stream: a UNIX socket, a TCP connection, a pipe in a test.
package scgi

import (
	"errors"
	"fmt"
	"io"
)

// Limits bound what one side of the hop can make the other hold in memory.
type Limits struct {
	// MaxHeader bounds the request's netstring of variables, and the header section of the response.
	MaxHeader int
	// MaxBody bounds a request's CONTENT_LENGTH (413 beyond).
	MaxBody int64
}

// DefaultLimits are the limits the course's front end and daemons use. The variables of the largest head that
// package http1 accepts (8 KiB of request line and 8 KiB of headers) fit four times over in MaxHeader.
var DefaultLimits = Limits{MaxHeader: 64 << 10, MaxBody: 1 << 30}

// Error is a request or a response that breaks the protocol, with the status to answer: 400, 413 or 431 for a
// request a daemon refuses (see Refuse), 502 Bad Gateway for a daemon's response the front end cannot use.
type Error struct {
	Code   int
	Reason string
}

// Error says which message was bad and why, as "scgi: bad request: ...".
func (e *Error) Error() string {
	if e.Code == 502 {
		return "scgi: bad response from the daemon: " + e.Reason
	}
	return "scgi: bad request: " + e.Reason
}

// StatusCode returns the status to answer with, which makes gateway.StatusOf work on an Error.
func (e *Error) StatusCode() int { return e.Code }

func requestError(code int, format string, args ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}

func responseError(format string, args ...any) *Error {
	return &Error{Code: 502, Reason: fmt.Sprintf(format, args...)}
}

// Refuse answers a request that ReadRequest refused, as a daemon does before it closes the connection: the
// status the *Error carries and its reason, as a CGI response (see WriteError). Other errors (the connection
// closed or timed out) get no answer.
func Refuse(w io.Writer, err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return nil
	}
	return WriteError(w, e.Code, e.Reason)
}
