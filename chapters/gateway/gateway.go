// Package gateway is the interface between a web server and the application it runs: a Go rendering of
// PEP 3333, the Python Web Server Gateway Interface (WSGI).
//
// The server parses a request, builds an Environ with NewEnviron, and calls the App with a StartResponse
// function. The App calls StartResponse with a status line and headers, and returns a Body: the chunks of the
// response body, pulled one at a time. Respond does the server's half of the contract: it decides the framing
// (Content-Length, chunked, or close-delimited), strips the body for HEAD, refuses hop-by-hop headers from the
// app, never sends the headers before the first non-empty chunk, and always closes the Body.
//
// Every chapter's server uses this package unchanged; what differs from chapter to chapter is how the server
// gets requests to it and how many it runs at once, which the server reports through Environ.MultiThread and
// Environ.MultiProcess.
package gateway

import (
	"errors"
	"io"
	"iter"
	"slices"
	"strings"
)

// Header is one header field, in the order it was sent or given.
type Header struct {
	Name, Value string
}

// Request is a parsed HTTP/1.x request: the head, and the body as a stream with the framing already removed.
type Request struct {
	Method string // "GET", "POST", ...
	Target string // the request-target exactly as sent: "/a%20b?x=1"
	Proto  string // "HTTP/1.1"
	Major  int    // 1
	Minor  int    // 1 or 0

	// Header holds the header fields in the order they arrived, names as sent.
	Header []Header

	// Body yields the decoded request body (Content-Length or chunked framing removed). It is never nil:
	// a request without a body has an empty one.
	Body io.Reader

	// ContentLength is the declared length of the body, or -1 when the body is chunked.
	ContentLength int64
}

// Get returns the first value of the header field name (matched case-insensitively), or "".
func (r *Request) Get(name string) string {
	for v := range r.Fields(name) {
		return v
	}
	return ""
}

// Values returns every value of the header field name, in order.
func (r *Request) Values(name string) []string { return slices.Collect(r.Fields(name)) }

// Fields yields every value of the header field name (case-insensitively), in order, without allocating: the
// checks that run for every request use it.
func (r *Request) Fields(name string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, h := range r.Header {
			if strings.EqualFold(h.Name, name) && !yield(h.Value) {
				return
			}
		}
	}
}

// HasToken reports whether the comma-separated header field name lists token (case-insensitively), as in
// "Connection: keep-alive, Upgrade".
func (r *Request) HasToken(name, token string) bool {
	for v := range r.Fields(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// WantsKeepAlive reports whether the client asked for the connection to stay open after this request:
// HTTP/1.1 keeps it unless the client sends "Connection: close"; HTTP/1.0 closes it unless the client sends
// "Connection: keep-alive" (RFC 9112, section 9.3).
func (r *Request) WantsKeepAlive() bool {
	if r.HasToken("Connection", "close") {
		return false
	}
	if r.Major == 1 && r.Minor == 0 {
		return r.HasToken("Connection", "keep-alive")
	}
	return true
}

// StartResponse begins the response: status is "200 OK", headers are the app's response headers. It returns
// an error when the status or a header is invalid, or is a hop-by-hop header, which only the server may send.
type StartResponse func(status string, headers []Header) error

// App is a web application: it reads the request from env, calls start once with the status and headers,
// and returns the body. An error returned before any byte of the response was sent becomes a 500 (or the
// status the error carries, see StatusCoder); one returned later aborts the connection.
type App func(env *Environ, start StartResponse) (Body, error)

// Body is a response body, pulled chunk by chunk like the iterable a WSGI app returns. Next returns the next
// chunk, or io.EOF when there are no more. The server calls Close exactly once, whatever happened.
type Body interface {
	Next() ([]byte, error)
	Close() error
}

// Sized is implemented by bodies that know how many bytes they have left to give, such as those of Bytes.
// A server sends a Sized body with Content-Length; a body that wraps another should pass Len through.
type Sized interface {
	Len() int
}

// StatusCoder is implemented by errors that carry the HTTP status a server should answer with, such as
// "413 Content Too Large" from a request body reader.
type StatusCoder interface {
	StatusCode() int
}

// StatusOf returns the status carried by err (see StatusCoder), or 500.
func StatusOf(err error) int {
	var sc StatusCoder
	if errors.As(err, &sc) {
		return sc.StatusCode()
	}
	return 500
}

// Bytes returns a Body made of the given chunks. Its length is known in advance, so a server sends it with
// Content-Length.
func Bytes(chunks ...[]byte) Body {
	return &bytesBody{chunks: chunks}
}

type bytesBody struct {
	chunks [][]byte
}

func (b *bytesBody) Next() ([]byte, error) {
	if len(b.chunks) == 0 {
		return nil, io.EOF
	}
	c := b.chunks[0]
	b.chunks = b.chunks[1:]
	return c, nil
}

func (b *bytesBody) Close() error { return nil }

// Len returns the number of bytes not yet returned by Next.
func (b *bytesBody) Len() int {
	n := 0
	for _, c := range b.chunks {
		n += len(c)
	}
	return n
}

// Func returns a Body whose chunks come from next, and whose Close calls close (which may be nil). Its length
// is not known in advance, so an HTTP/1.1 server sends it chunked.
func Func(next func() ([]byte, error), close func() error) Body {
	return &funcBody{next: next, close: close}
}

type funcBody struct {
	next  func() ([]byte, error)
	close func() error
}

func (b *funcBody) Next() ([]byte, error) { return b.next() }

func (b *funcBody) Close() error {
	if b.close == nil {
		return nil
	}
	return b.close()
}
