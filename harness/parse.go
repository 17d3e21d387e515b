package harness

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Header is one header or trailer field of a response, as received.
type Header struct {
	Name, Value string
}

// Response is one HTTP/1.x response as it arrived on the wire.
type Response struct {
	Proto   string   // "HTTP/1.1"
	Status  int      // 200
	Reason  string   // "OK"; may be empty
	Header  []Header // in the order received
	Body    []byte   // decoded: chunked framing removed
	Chunked bool     // the body was sent with Transfer-Encoding: chunked
	Trailer []Header // trailer fields of a chunked body
	Raw     []byte   // the exact bytes of this response
}

// Get returns the value of the first header field named name (case-insensitive), or "".
func (r *Response) Get(name string) string {
	for _, h := range r.Header {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// Values returns the values of every header field named name (case-insensitive), in order.
func (r *Response) Values(name string) []string {
	var vs []string
	for _, h := range r.Header {
		if strings.EqualFold(h.Name, name) {
			vs = append(vs, h.Value)
		}
	}
	return vs
}

// HasToken reports whether a header field named name holds token (case-insensitive) in its
// comma-separated list, as in "Connection: keep-alive, close".
func (r *Response) HasToken(name, token string) bool {
	for _, v := range r.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.Trim(t, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// ParseError reports bytes that are not a complete, valid HTTP/1.x response. Incomplete is true when the
// bytes are a valid beginning of a response that ended too early; otherwise they are invalid at Offset.
type ParseError struct {
	Incomplete bool
	Reason     string // what is wrong or missing, for a person
	Offset     int    // where in the bytes the problem is; for an incomplete response, how many bytes there were
	Got        []byte // the bytes at fault (the offending line), at most maxGot bytes
}

func (e *ParseError) Error() string {
	if e.Incomplete {
		return fmt.Sprintf("incomplete response (%d bytes): %s", e.Offset, e.Reason)
	}
	return fmt.Sprintf("invalid response at byte %d: %s: %s", e.Offset, e.Reason, quote(e.Got, maxGot))
}

const (
	maxGot     = 120      // bytes of the offending input kept in a ParseError
	maxLine    = 64 << 10 // longest status, header or chunk-size line accepted
	maxHeaders = 1000     // most header or trailer fields accepted
)

// ParseResponse parses one response from the start of b and returns it with the number of bytes it used.
// head is true for the response to a HEAD request, which has no body whatever its headers say. When b
// holds only the beginning of a response, the error is a *ParseError with Incomplete set; a response
// whose body runs until the connection closes is always incomplete here (see ParseResponseEOF).
//
// The parser is strict, so that it catches the framing mistakes a server can make: the status line is
// exactly "HTTP/1.x SP 3DIGIT SP reason CRLF", lines end in CRLF, header names are tokens with no
// whitespace before the colon, obs-fold is refused, Content-Length is digits and repeated values agree,
// Content-Length with Transfer-Encoding is refused, chunk sizes are hex with optional extensions, chunk
// data is followed by CRLF. Responses with status 1xx, 204 or 304 have no body.
func ParseResponse(b []byte, head bool) (*Response, int, error) {
	p := parser{b: b, head: head}
	return p.parse()
}

// ParseResponseEOF is ParseResponse for bytes after which the connection closed: a response without
// Content-Length or chunked framing ends with b, and any other short response is incomplete.
func ParseResponseEOF(b []byte, head bool) (*Response, int, error) {
	p := parser{b: b, head: head, eof: true}
	return p.parse()
}

type parser struct {
	b      []byte
	head   bool
	eof    bool  // the connection closed after b
	offset []int // where each field of the last section parsed starts
}

func (p *parser) invalid(off int, got []byte, format string, args ...any) *ParseError {
	if len(got) == 0 {
		got = p.b[off:]
	}
	if len(got) > maxGot {
		got = got[:maxGot]
	}
	return &ParseError{Reason: fmt.Sprintf(format, args...), Offset: off, Got: bytes.Clone(got)}
}

func (p *parser) incomplete(format string, args ...any) *ParseError {
	reason := fmt.Sprintf(format, args...)
	if p.eof {
		reason = "the connection closed too early: " + reason
	}
	return &ParseError{Incomplete: true, Reason: reason, Offset: len(p.b)}
}

// line returns the line that starts at off without its CRLF, and the offset after the CRLF. It returns a
// nil line and a nil error when the line is not complete yet.
func (p *parser) line(off int, what string) ([]byte, int, *ParseError) {
	rest := p.b[off:]
	i := bytes.IndexByte(rest, '\n')
	if i < 0 {
		if len(rest) > maxLine {
			return nil, 0, p.invalid(off, rest, "%s longer than %d bytes", what, maxLine)
		}
		if j := bytes.IndexByte(rest, '\r'); j >= 0 && j < len(rest)-1 {
			return nil, 0, p.invalid(off+j, rest, "bare CR in %s (lines end in CRLF)", what)
		}
		return nil, 0, nil
	}
	l := rest[:i]
	if len(l) == 0 || l[len(l)-1] != '\r' {
		return nil, 0, p.invalid(off+i, l, "%s ends in a bare LF (HTTP lines end in CRLF)", what)
	}
	l = l[:len(l)-1]
	if j := bytes.IndexByte(l, '\r'); j >= 0 {
		return nil, 0, p.invalid(off+j, l, "bare CR in %s (lines end in CRLF)", what)
	}
	return l, off + i + 1, nil
}

func (p *parser) parse() (*Response, int, error) {
	if len(p.b) == 0 {
		return nil, 0, p.incomplete("no bytes")
	}
	l, off, err := p.line(0, "status line")
	if err != nil {
		return nil, 0, err
	}
	if l == nil {
		if e := checkVersionPrefix(p.b); e != "" {
			return nil, 0, p.invalid(0, p.b, "%s", e)
		}
		return nil, 0, p.incomplete("the status line is not finished")
	}
	r := new(Response)
	if err := p.statusLine(l, r); err != nil {
		return nil, 0, err
	}
	r.Header, off, err = p.fields(off, "header")
	if err != nil {
		return nil, 0, err
	}
	if r.Header == nil && off == 0 {
		return nil, 0, p.incomplete("the header section is not finished (it ends with an empty line)")
	}
	n, err := p.body(off, r)
	if err != nil {
		return nil, 0, err
	}
	r.Raw = bytes.Clone(p.b[:n])
	return r, n, nil
}

// checkVersionPrefix reports what is wrong with the start of an unfinished status line, so that a server
// that answers with something other than HTTP fails at once rather than at a timeout.
func checkVersionPrefix(b []byte) string {
	const want = "HTTP/1."
	for i := 0; i < len(b) && i < len(want); i++ {
		if b[i] != want[i] {
			return "the status line does not start with HTTP/1.x"
		}
	}
	if len(b) > len(want) && !isDigit(b[len(want)]) {
		return "the status line does not start with HTTP/1.x"
	}
	return ""
}

func (p *parser) statusLine(l []byte, r *Response) *ParseError {
	if len(l) == 0 {
		return p.invalid(0, l, "expected a status line, got an empty line (an extra CRLF after the previous response?)")
	}
	if checkVersionPrefix(l) != "" || len(l) < 8 {
		return p.invalid(0, l, "the status line does not start with HTTP/1.x")
	}
	if len(l) < 9 || l[8] != ' ' {
		return p.invalid(8, l, "the version is not followed by a single space")
	}
	if len(l) < 12 || !isDigit(l[9]) || !isDigit(l[10]) || !isDigit(l[11]) || (len(l) > 12 && l[12] != ' ') {
		return p.invalid(9, l, "the status code is not 3 digits followed by a space")
	}
	if len(l) == 12 {
		return p.invalid(12, l, "no space after the status code (the reason phrase may be empty, the space may not)")
	}
	code, _ := strconv.Atoi(string(l[9:12]))
	if code < 100 || code > 599 {
		return p.invalid(9, l, "status code %d is not in 100-599", code)
	}
	reason := l[13:]
	for i, c := range reason {
		if !isFieldByte(c) {
			return p.invalid(13+i, l, "control character %q in the reason phrase", c)
		}
	}
	r.Proto = string(l[:8])
	r.Status = code
	r.Reason = string(reason)
	return nil
}

// fields parses header or trailer lines from off up to and including the empty line. It returns the
// fields and the offset after the empty line, or nil and 0 when the section is not finished (a section
// with no fields returns an empty, non-nil slice).
func (p *parser) fields(off int, what string) ([]Header, int, *ParseError) {
	hs := []Header{}
	p.offset = p.offset[:0]
	for {
		l, next, err := p.line(off, what+" line")
		if err != nil {
			return nil, 0, err
		}
		if l == nil {
			return nil, 0, nil
		}
		if len(l) == 0 {
			return hs, next, nil
		}
		if len(hs) == maxHeaders {
			return nil, 0, p.invalid(off, l, "more than %d %s fields", maxHeaders, what)
		}
		h, err := p.field(off, l, what)
		if err != nil {
			return nil, 0, err
		}
		hs = append(hs, h)
		p.offset = append(p.offset, off)
		off = next
	}
}

func (p *parser) field(off int, l []byte, what string) (Header, *ParseError) {
	if l[0] == ' ' || l[0] == '\t' {
		return Header{}, p.invalid(off, l, "%s line starts with whitespace (obs-fold line folding is not allowed)", what)
	}
	colon := bytes.IndexByte(l, ':')
	if colon < 0 {
		return Header{}, p.invalid(off, l, "%s line has no colon", what)
	}
	if colon == 0 {
		return Header{}, p.invalid(off, l, "empty %s name", what)
	}
	name := l[:colon]
	if c := name[len(name)-1]; c == ' ' || c == '\t' {
		return Header{}, p.invalid(off+colon-1, l, "whitespace before the colon in a %s line", what)
	}
	for i, c := range name {
		if !isTokenByte(c) {
			return Header{}, p.invalid(off+i, l, "%s name has an invalid character %q", what, c)
		}
	}
	value := bytes.Trim(l[colon+1:], " \t")
	for _, c := range value {
		if !isFieldByte(c) {
			return Header{}, p.invalid(off+colon+1+bytes.IndexByte(l[colon+1:], c), l,
				"control character %q in a %s value", c, what)
		}
	}
	return Header{Name: string(name), Value: string(value)}, nil
}

// body reads the body that starts at off, as the headers of r frame it, and returns the end of the response.
func (p *parser) body(off int, r *Response) (int, *ParseError) {
	length, chunked, framed, err := p.framing(r)
	if err != nil {
		return 0, err
	}
	if p.head || r.Status/100 == 1 || r.Status == 204 || r.Status == 304 {
		r.Body = []byte{}
		return off, nil
	}
	switch {
	case chunked:
		r.Chunked = true
		return p.chunked(off, r)
	case framed:
		if have := len(p.b) - off; int64(have) < length {
			return 0, p.incomplete("the body has %d of %d bytes (Content-Length: %d)", have, length, length)
		}
		r.Body = bytes.Clone(p.b[off : off+int(length)])
		return off + int(length), nil
	case !p.eof:
		return 0, p.incomplete("the body runs until the connection closes (no Content-Length, not chunked)")
	default:
		r.Body = bytes.Clone(p.b[off:])
		return len(p.b), nil
	}
}

// framing checks Content-Length and Transfer-Encoding. framed is true when a Content-Length gives the length.
func (p *parser) framing(r *Response) (length int64, chunked, framed bool, err *ParseError) {
	length = -1
	var codings []string
	seenCL, seenTE := false, false
	for i, h := range r.Header {
		off, line := p.offset[i], p.b[p.offset[i]:]
		line = line[:bytes.IndexByte(line, '\r')]
		switch {
		case strings.EqualFold(h.Name, "Content-Length"):
			seenCL = true
			if h.Value == "" || strings.Trim(h.Value, "0123456789") != "" {
				return 0, false, false, p.invalid(off, line, "Content-Length is not a decimal number")
			}
			n, perr := strconv.ParseInt(h.Value, 10, 64)
			if perr != nil {
				return 0, false, false, p.invalid(off, line, "Content-Length is too large")
			}
			if length >= 0 && n != length {
				return 0, false, false, p.invalid(off, line, "conflicting Content-Length values %d and %d", length, n)
			}
			length = n
		case strings.EqualFold(h.Name, "Transfer-Encoding"):
			seenTE = true
			for t := range strings.SplitSeq(h.Value, ",") {
				t = strings.ToLower(strings.Trim(t, " \t"))
				if t == "" {
					return 0, false, false, p.invalid(off, line, "empty transfer coding in Transfer-Encoding")
				}
				if len(codings) > 0 && codings[len(codings)-1] == "chunked" {
					return 0, false, false, p.invalid(off, line, "chunked is not the last transfer coding")
				}
				codings = append(codings, t)
			}
		}
		if seenCL && seenTE {
			return 0, false, false, p.invalid(off, line, "both Content-Length and Transfer-Encoding are set (a response has one framing)")
		}
	}
	chunked = len(codings) > 0 && codings[len(codings)-1] == "chunked"
	return length, chunked, length >= 0, nil
}

func (p *parser) chunked(off int, r *Response) (int, *ParseError) {
	body := []byte{}
	for i := 1; ; i++ {
		l, next, err := p.line(off, "chunk size line")
		if err != nil {
			return 0, err
		}
		if l == nil {
			if off < len(p.b) && !isHex(p.b[off]) {
				return 0, p.invalid(off, p.b[off:], "chunk size is not hexadecimal")
			}
			return 0, p.incomplete("chunk %d: the chunk size line is not finished", i)
		}
		size, err := p.chunkSize(off, l)
		if err != nil {
			return 0, err
		}
		off = next
		if size == 0 {
			break
		}
		end := off + int(size)
		if have := len(p.b) - off; int64(have) < size {
			return 0, p.incomplete("chunk %d has %d of %d bytes", i, have, size)
		}
		for j, want := range []byte("\r\n") {
			if end+j == len(p.b) {
				return 0, p.incomplete("chunk %d: waiting for the CRLF after the chunk data", i)
			}
			if p.b[end+j] != want {
				return 0, p.invalid(end, p.b[end:min(end+maxGot, len(p.b))],
					"chunk %d: the chunk data is not followed by CRLF (the size line said %d bytes)", i, size)
			}
		}
		body = append(body, p.b[off:end]...)
		off = end + 2
	}
	trailer, end, err := p.fields(off, "trailer")
	if err != nil {
		return 0, err
	}
	if trailer == nil {
		return 0, p.incomplete("the chunked body is not finished: waiting for the trailer section's empty line after the last chunk")
	}
	r.Body = body
	if len(trailer) > 0 {
		r.Trailer = trailer
	}
	return end, nil
}

// chunkSize parses "1*HEXDIG *( BWS ";" BWS ext-name [ BWS "=" BWS ext-value ] )".
func (p *parser) chunkSize(off int, l []byte) (int64, *ParseError) {
	n := 0
	for n < len(l) && isHex(l[n]) {
		n++
	}
	if n == 0 {
		return 0, p.invalid(off, l, "chunk size is not hexadecimal")
	}
	size, perr := strconv.ParseInt(string(l[:n]), 16, 64)
	if perr != nil || size > 1<<40 {
		return 0, p.invalid(off, l, "chunk size is too large")
	}
	if i := badChunkExt(l[n:]); i >= 0 {
		return 0, p.invalid(off+n+i, l, "invalid chunk extension")
	}
	return size, nil
}

// badChunkExt returns the index of the first byte of ext that breaks the chunk-ext grammar, or -1.
func badChunkExt(ext []byte) int {
	i := 0
	ws := func() {
		for i < len(ext) && (ext[i] == ' ' || ext[i] == '\t') {
			i++
		}
	}
	token := func() bool {
		start := i
		for i < len(ext) && isTokenByte(ext[i]) {
			i++
		}
		return i > start
	}
	for i < len(ext) {
		ws()
		if i == len(ext) || ext[i] != ';' {
			return i
		}
		i++
		ws()
		if !token() {
			return i
		}
		ws()
		if i == len(ext) || ext[i] == ';' {
			continue
		}
		if ext[i] != '=' {
			return i
		}
		i++
		ws()
		if i < len(ext) && ext[i] == '"' {
			if i = endQuoted(ext, i); i < 0 {
				return len(ext)
			}
		} else if !token() {
			return i
		}
	}
	return -1
}

// endQuoted returns the index after the quoted-string that starts at b[i], or -1 if it is not closed.
func endQuoted(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			i++
		case !isFieldByte(c):
			return -1
		}
	}
	return -1
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// isTokenByte reports whether c is a tchar (RFC 9110, section 5.6.2).
func isTokenByte(c byte) bool {
	return c < 0x80 && (isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0)
}

// isFieldByte reports whether c may appear in a field value or reason phrase: HTAB, SP, VCHAR, obs-text.
func isFieldByte(c byte) bool { return c == '\t' || c >= 0x20 && c != 0x7f }

// quote renders b as a Go string literal, cut to at most limit bytes.
func quote(b []byte, limit int) string {
	if len(b) > limit {
		return strconv.Quote(string(b[:limit])) + fmt.Sprintf("... (%d bytes in all)", len(b))
	}
	return strconv.Quote(string(b))
}
