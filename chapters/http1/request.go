// Package http1 reads HTTP/1.x requests from a blocking stream (the request line, the header section and the
// body framing of RFC 9112, with the limits a server needs to survive hostile clients) and answers them through
// the gateway.
//
// It is the reference answer to chapter 1, which has the learner write this, and a given package from chapter 2
// on. It reads from a *bufio.Reader and blocks until the bytes it needs arrive, which suits a thread (or
// goroutine) per connection. The event-driven server of chapter 3 cannot block, so it needs a parser of
// another shape: one fed with whatever bytes have arrived (package push). That parser applies the rules
// exported here (ParseRequestLine, ParseField, Section, CheckHost, BodyLength, ParseChunkSize), so that both
// read the same bytes the same way; and this package does not import package net, so that chapter 3's
// server, which does its socket I/O itself, uses none of Go's networking.
package http1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"course/chapters/gateway"
)

// Limits bound what a request may use, so that one client cannot exhaust the server's memory.
type Limits struct {
	MaxLine        int   // the request line, CRLF excluded: 8 KiB, as nginx's large_client_header_buffers
	MaxHeaders     int   // header fields: 100, as gunicorn's limit_request_fields
	MaxHeaderBytes int   // the header section after the request line: 8 KiB
	MaxBody        int64 // the decoded body
}

// DefaultLimits are the limits the course's servers use unless told otherwise.
var DefaultLimits = Limits{MaxLine: 8 << 10, MaxHeaders: 100, MaxHeaderBytes: 8 << 10, MaxBody: 1 << 20}

// MaxChunkLine bounds a chunk-size line of a chunked body, extensions included, CRLF excluded.
const MaxChunkLine = 4096

// Error is a request the server refuses, with the status to answer. After answering it the server closes the
// connection: it can no longer tell where the next request would start.
type Error struct {
	Code   int    // 400, 413, 414, 431, 501, 505
	Reason string // what was wrong, for the log and the response body
}

// Error returns the status and the reason, as "400 Bad Request: bad method ...".
func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Code, gateway.Reason(e.Code), e.Reason)
}

// StatusCode returns the status to answer with, which makes gateway.StatusOf work on an Error.
func (e *Error) StatusCode() int { return e.Code }

func errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// errLineTooLong is returned by readLine when a line exceeds its limit; the caller turns it into a status.
var errLineTooLong = errors.New("line too long")

// ReadRequest reads one request head from br and sets up its body, which the caller reads from req.Body.
// It returns io.EOF when the connection closed cleanly before a request started, an *Error for a request the
// server must refuse, and other errors (timeouts, resets) as they come from br.
func ReadRequest(br *bufio.Reader, lim Limits) (*gateway.Request, error) {
	req, err := ReadRequestLine(br, lim)
	if err != nil {
		return nil, err
	}
	if req.Header, err = ReadHeader(br, lim); err != nil {
		return nil, err
	}
	if err := CheckHost(req); err != nil {
		return nil, err
	}
	if err := setBody(req, br, lim); err != nil {
		return nil, err
	}
	return req, nil
}

// ReadRequestLine reads the request line from br, skipping up to three empty lines before it, and parses it
// with ParseRequestLine. A line over lim.MaxLine bytes gets a 414, read no further than that. It returns io.EOF
// when br ends before the line starts, and a 400 when it ends in the middle of it.
func ReadRequestLine(br *bufio.Reader, lim Limits) (*gateway.Request, error) {
	// RFC 9112 section 2.2: a server should ignore at least one empty line before the request line.
	var line []byte
	var err error
	for range 4 {
		line, err = readLine(br, lim.MaxLine)
		if err != nil || len(line) > 0 {
			break
		}
	}
	switch {
	case errors.Is(err, errLineTooLong):
		return nil, errorf(414, "request line longer than %d bytes", lim.MaxLine)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, errorf(400, "connection closed in the middle of the request line")
	case err != nil:
		return nil, err
	}
	return ParseRequestLine(string(line))
}

// readLine returns the next line without its line ending (CRLF, or a bare LF, which RFC 9112 section 2.2 lets
// a server accept). The slice is valid until the next read. A line longer than max gives errLineTooLong.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var long []byte // only used when a line spans more than bufio's buffer
	for {
		frag, err := br.ReadSlice('\n')
		if len(long)+len(frag) > max+2 {
			return nil, errLineTooLong
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, frag...)
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(long)+len(frag) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if long != nil {
			frag = append(long, frag...)
		}
		frag = frag[:len(frag)-1]
		if n := len(frag); n > 0 && frag[n-1] == '\r' {
			frag = frag[:n-1]
		}
		if len(frag) > max {
			return nil, errLineTooLong
		}
		return frag, nil
	}
}

// ParseRequestLine parses a request line without its line ending, "METHOD SP request-target SP HTTP-version"
// (RFC 9112 section 3), into a request with no header fields yet. A malformed line gets a 400, and a major
// version other than 1 a 505.
func ParseRequestLine(line string) (*gateway.Request, error) {
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || strings.Contains(proto, " ") {
		return nil, errorf(400, "malformed request line %q (want METHOD SP target SP HTTP/1.1)", clip(line))
	}
	if !gateway.IsToken(method) {
		return nil, errorf(400, "bad method %q", clip(method))
	}
	if target == "" || !isVisible(target) {
		return nil, errorf(400, "bad request-target %q", clip(target))
	}
	major, minor, ok := parseVersion(proto)
	if !ok {
		return nil, errorf(400, "bad HTTP version %q", clip(proto))
	}
	if major != 1 {
		return nil, errorf(505, "HTTP version %q is not supported (only HTTP/1.0 and HTTP/1.1)", proto)
	}
	return &gateway.Request{Method: method, Target: target, Proto: proto, Major: major, Minor: minor}, nil
}

// parseVersion parses "HTTP/x.y" with single digits (RFC 9112 section 2.3).
func parseVersion(s string) (major, minor int, ok bool) {
	if len(s) != 8 || !strings.HasPrefix(s, "HTTP/") || s[6] != '.' || !isDigit(s[5]) || !isDigit(s[7]) {
		return 0, 0, false
	}
	return int(s[5] - '0'), int(s[7] - '0'), true
}

// ReadHeader reads the field lines of a header (or trailer) section from br up to the empty line that ends it,
// each parsed with ParseField and counted against lim by a Section. The end of br before that line is a 400.
func ReadHeader(br *bufio.Reader, lim Limits) ([]gateway.Header, error) {
	var hs []gateway.Header
	var sec Section
	for {
		line, err := readLine(br, lim.MaxHeaderBytes)
		switch {
		case errors.Is(err, errLineTooLong):
			return nil, errorf(431, "a header line is longer than %d bytes", lim.MaxHeaderBytes)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, errorf(400, "connection closed in the middle of the headers")
		case err != nil:
			return nil, err
		}
		if len(line) == 0 {
			return hs, nil
		}
		h, err := sec.Field(line, lim)
		if err != nil {
			return nil, err
		}
		hs = append(hs, h)
	}
}

// Section counts the field lines of a header or trailer section against Limits as they come: the trailer
// section of a chunked body gets limits of its own, as large as the header's. The zero value is an empty
// section.
type Section struct {
	fields int // field lines so far
	size   int // their bytes, each line counted with its CRLF
}

// Field counts line, a field line without its line ending, against lim, then parses it with ParseField. A
// section with more than lim.MaxHeaders fields or lim.MaxHeaderBytes bytes gets a 431.
func (s *Section) Field(line []byte, lim Limits) (gateway.Header, error) {
	s.size += len(line) + 2
	if s.size > lim.MaxHeaderBytes {
		return gateway.Header{}, errorf(431, "header section larger than %d bytes", lim.MaxHeaderBytes)
	}
	if s.fields == lim.MaxHeaders {
		return gateway.Header{}, errorf(431, "more than %d header fields", lim.MaxHeaders)
	}
	s.fields++
	return ParseField(line)
}

// ParseField parses a field line without its line ending, "name: value" (RFC 9112 section 5): no whitespace
// before the colon, optional whitespace around the value, no line folding, no control characters. Anything
// else gets a 400.
func ParseField(line []byte) (gateway.Header, error) {
	if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
		return gateway.Header{}, errorf(400, "obsolete line folding in the headers (a line starting with whitespace)")
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return gateway.Header{}, errorf(400, "header line without a colon: %q", clip(string(line)))
	}
	if !gateway.IsToken(string(name)) {
		if n := len(name); n > 0 && (name[n-1] == ' ' || name[n-1] == '\t') {
			return gateway.Header{}, errorf(400, "whitespace between the header name %q and the colon", clip(string(name)))
		}
		return gateway.Header{}, errorf(400, "bad header name %q", clip(string(name)))
	}
	value = bytes.Trim(value, " \t")
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return gateway.Header{}, errorf(400, "control character in the value of header %q", name)
		}
	}
	return gateway.Header{Name: string(name), Value: string(value)}, nil
}

// CheckHost applies RFC 9112 section 3.2 to a request head: an HTTP/1.1 request has exactly one Host header,
// an HTTP/1.0 one at most one. Anything else gets a 400.
func CheckHost(req *gateway.Request) error {
	n := 0
	for range req.Fields("Host") {
		n++
	}
	switch {
	case n == 0 && req.Minor >= 1:
		return errorf(400, "HTTP/1.1 request without a Host header")
	case n > 1:
		return errorf(400, "%d Host headers (there must be one)", n)
	}
	return nil
}

// setBody sets req.ContentLength as BodyLength decides, and req.Body to a reader of the body.
func setBody(req *gateway.Request, br *bufio.Reader, lim Limits) error {
	n, err := BodyLength(req, lim)
	if err != nil {
		return err
	}
	req.ContentLength = n
	if n < 0 {
		req.Body = ChunkedBody(br, lim)
	} else {
		req.Body = LengthBody(br, n)
	}
	return nil
}

// BodyLength decides how the body of a request head is framed (RFC 9112 section 6.3) and returns its length:
// the Content-Length, 0 without Content-Length or Transfer-Encoding, or -1 for a chunked body. It refuses
// what two servers in a chain could frame differently (400): both headers, Transfer-Encoding in HTTP/1.0, a
// final coding other than chunked, chunked twice, a bad or ambiguous Content-Length; a coding it does not
// know before the final chunked (501); and a Content-Length over lim.MaxBody (413).
func BodyLength(req *gateway.Request, lim Limits) (int64, error) {
	te := req.Values("Transfer-Encoding")
	cl := req.Values("Content-Length")
	switch {
	case len(te) > 0 && len(cl) > 0:
		// The classic request smuggling vector: two framings that two servers in a chain may read differently.
		return 0, errorf(400, "both Transfer-Encoding and Content-Length (request smuggling?)")
	case len(te) > 0:
		if req.Minor == 0 {
			return 0, errorf(400, "Transfer-Encoding in an HTTP/1.0 request")
		}
		var codings []string
		for _, v := range te {
			for c := range strings.SplitSeq(v, ",") {
				codings = append(codings, strings.ToLower(strings.TrimSpace(c)))
			}
		}
		// Section 6.3: without chunked last, the end of a request body cannot be found; a 400, not a 501.
		if codings[len(codings)-1] != "chunked" {
			return 0, errorf(400, "the last transfer coding is %q, not chunked: the body has no end", clip(codings[len(codings)-1]))
		}
		if slices.Contains(codings[:len(codings)-1], "chunked") {
			return 0, errorf(400, "chunked applied more than once")
		}
		// Section 6.1: a coding the server does not know (any but chunked, here) should get a 501.
		if len(codings) > 1 {
			return 0, errorf(501, "transfer coding %q is not supported (only chunked)", clip(codings[0]))
		}
		return -1, nil
	case len(cl) > 0:
		n, err := parseContentLength(cl)
		if err != nil {
			return 0, err
		}
		if n > lim.MaxBody {
			return 0, errorf(413, "body of %d bytes is over the limit of %d", n, lim.MaxBody)
		}
		return n, nil
	}
	return 0, nil
}

// parseContentLength accepts one length, or several that agree (RFC 9110 section 8.6); anything else is a
// smuggling risk and refused.
func parseContentLength(values []string) (int64, error) {
	n := int64(-1)
	for _, v := range values {
		for s := range strings.SplitSeq(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" || len(s) > 18 || strings.TrimLeft(s, "0123456789") != "" {
				return 0, errorf(400, "bad Content-Length %q", clip(s))
			}
			m, _ := strconv.ParseInt(s, 10, 64)
			if n >= 0 && m != n {
				return 0, errorf(400, "different Content-Length values %d and %d (request smuggling?)", n, m)
			}
			n = m
		}
	}
	return n, nil
}

// LengthBody returns a reader of a body framed by Content-Length (RFC 9112 section 6.2): exactly n bytes of r,
// then io.EOF. It reads nothing of r beyond them; an r that ends before them gives a 400.
func LengthBody(r io.Reader, n int64) io.Reader { return &lengthReader{r: r, n: n} }

// lengthReader reads exactly n bytes of body; a connection that closes early is a bad request.
type lengthReader struct {
	r io.Reader
	n int64
}

func (l *lengthReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if errors.Is(err, io.EOF) && l.n > 0 {
		return n, errorf(400, "connection closed with %d bytes of the body still to come", l.n)
	}
	if err == nil && l.n == 0 {
		err = io.EOF
	}
	return n, err
}

// ChunkedBody returns a reader of a chunked body from br (RFC 9112 section 7.1): the data of its chunks, then
// io.EOF once the last chunk and the trailer section are read. A malformed chunk or trailer gets a 400, a
// body whose decoded size goes over lim.MaxBody a 413, and trailer sections have the limits of a header one.
func ChunkedBody(br *bufio.Reader, lim Limits) io.Reader { return &chunkedReader{br: br, lim: lim} }

// chunkedReader decodes the chunked transfer coding (RFC 9112 section 7.1): hex size, optional extensions,
// data, CRLF, ..., a zero-size chunk, optional trailer fields and an empty line. Trailers are read and dropped:
// WSGI has no way to hand them to the app.
type chunkedReader struct {
	br    *bufio.Reader
	lim   Limits
	left  int64 // bytes left in the current chunk
	total int64
	err   error
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.left == 0 {
		if c.err = c.nextChunk(); c.err != nil {
			return 0, c.err
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errorf(400, "connection closed in the middle of a chunk")
		}
		c.err = err
		return n, err
	}
	if c.left == 0 {
		if c.err = c.crlf(); c.err != nil {
			return n, c.err
		}
	}
	return n, nil
}

// nextChunk reads a chunk-size line; at the last chunk it reads the trailers and returns io.EOF.
func (c *chunkedReader) nextChunk() error {
	line, err := readLine(c.br, MaxChunkLine)
	if err != nil {
		return c.fail(err, "chunk size")
	}
	n, err := ParseChunkSize(line)
	if err != nil {
		return err
	}
	if n == 0 {
		if _, err := ReadHeader(c.br, c.lim); err != nil {
			return err
		}
		return io.EOF
	}
	c.total += n
	if c.total > c.lim.MaxBody {
		return errorf(413, "chunked body over the limit of %d bytes", c.lim.MaxBody)
	}
	c.left = n
	return nil
}

// crlf reads the line ending that follows chunk data.
func (c *chunkedReader) crlf() error {
	b, err := c.br.ReadByte()
	if err == nil && b == '\r' {
		b, err = c.br.ReadByte()
	}
	if err != nil {
		return c.fail(err, "line ending after chunk data")
	}
	if b != '\n' {
		return errorf(400, "chunk data longer than its declared size")
	}
	return nil
}

func (c *chunkedReader) fail(err error, what string) error {
	switch {
	case errors.Is(err, errLineTooLong):
		return errorf(400, "%s line too long", what)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(400, "connection closed before the %s", what)
	}
	return err
}

// ParseChunkSize parses a chunk-size line without its line ending (RFC 9112 section 7.1): the size in hex,
// then chunk extensions, which are allowed and ignored. A size that is not plain hex digits (no sign, no 0x, no
// white space unless a ";" follows), or of more than 15 of them, gets a 400.
func ParseChunkSize(line []byte) (int64, error) {
	size, _, ext := bytes.Cut(line, []byte(";"))
	if ext {
		size = bytes.TrimRight(size, " \t") // BWS before the ";" of an extension, and only there
	}
	n, err := strconv.ParseInt(string(size), 16, 64)
	if err != nil || n < 0 || len(size) > 15 || len(size) == 0 || bytes.ContainsAny(size, "+-xX") {
		return 0, errorf(400, "bad chunk size %q", clip(string(line)))
	}
	return n, nil
}

// isVisible reports whether s is made of visible ASCII characters only.
func isVisible(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
