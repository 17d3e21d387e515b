// Package push parses HTTP/1.x requests from bytes pushed into it as they arrive: the parser of an event loop,
// which reads whatever a socket has and cannot wait for the rest.
//
// The blocking reader of chapters 1 and 2 (http1.ReadRequest) pulls bytes from a bufio.Reader and waits until
// the line it wants is complete. An event loop cannot wait: when a socket has 7 bytes, it reads 7 bytes and
// moves on to the next socket. So the parser keeps its place between calls (a state machine) and the loop
// pushes bytes into it with Feed, whatever their chunking: a byte at a time, half a header, or three pipelined
// requests in one buffer.
//
// Feed uses bytes until it has something to report, and returns how many it used and what it found:
//
//	NeedMore  every byte was used and nothing is complete yet: read more from the socket, then Feed again
//	Head      the request head is complete: Request returns it
//	Data      body bytes, decoded from Content-Length or chunked framing: Data returns them
//	End       the request, body included, is complete; the next byte belongs to the next request
//
// An event loop calls Feed until it says NeedMore, keeping the bytes Feed did not use:
//
//	for {
//		n, ev, err := p.Feed(buf)
//		buf = buf[n:]
//		if err != nil {
//			return err // answer with the status gateway.StatusOf(err), then close the connection
//		}
//		switch ev {
//		case push.NeedMore:
//			return // buf is empty: wait until the socket is readable again
//		case push.Head:
//			req = p.Request()
//		case push.Data:
//			body = append(body, p.Data()...)
//		case push.End:
//			// answer req; keep buf (the next, pipelined, requests) until the answer is sent
//		}
//	}
//
// Feed reports one event per call and may report one without using a byte (the End of a request without a
// body comes right after its Head), so the loop calls it again even when buf is empty, until NeedMore. When
// the client closes the connection, EOF says whether that cut a request short.
//
// The parser applies the same rules and limits as http1.ReadRequest, and answers the same bytes with the same
// status (a test feeds both the same requests, split in every way): 400 for a malformed request, 413, 414, 431,
// 501 and 505. It does not import package net, directly or otherwise, so that the event-driven server, which
// does its socket I/O itself, can show that it uses none of Go's networking.
package push

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"course/chapters/gateway"
)

// Limits bound what a request may use, so that one client cannot exhaust the server's memory. It has the fields
// of http1.Limits, so that one converts to the other: push.Limits(cfg.Limits()).
type Limits struct {
	MaxLine        int   // the request line, CRLF excluded
	MaxHeaders     int   // header fields (and, separately, trailer fields)
	MaxHeaderBytes int   // the header section after the request line (and, separately, the trailer section)
	MaxBody        int64 // the decoded body
}

// DefaultLimits are those of http1.DefaultLimits.
var DefaultLimits = Limits{MaxLine: 8 << 10, MaxHeaders: 100, MaxHeaderBytes: 8 << 10, MaxBody: 1 << 20}

// maxChunkLine bounds a chunk-size line, extensions included.
const maxChunkLine = 4096

// Error is a request the server refuses, with the status to answer. After answering it the server closes the
// connection: it can no longer tell where the next request would start.
type Error struct {
	Code   int    // 400, 413, 414, 431, 501, 505
	Reason string // what was wrong, for the log and the response body
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Code, gateway.Reason(e.Code), e.Reason)
}

// StatusCode returns the status to answer with, which makes gateway.StatusOf work on an Error.
func (e *Error) StatusCode() int { return e.Code }

func errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// Event is what Feed found.
type Event int

// The events of Feed, in the order they come for each request: Head, any number of Data, End.
const (
	NeedMore Event = iota // every byte given was used, and nothing is complete yet
	Head                  // the request head is complete: Request returns it
	Data                  // decoded body bytes: Data returns them
	End                   // the request is complete: the next byte starts the next request
)

func (e Event) String() string {
	switch e {
	case NeedMore:
		return "NeedMore"
	case Head:
		return "Head"
	case Data:
		return "Data"
	case End:
		return "End"
	}
	return "Event(" + strconv.Itoa(int(e)) + ")"
}

// state is where the parser is in a request.
type state uint8

const (
	inRequestLine state = iota // before the request line, or in it
	inHeader                   // in the header section
	inBody                     // in a body framed by Content-Length (or none: left is 0)
	inChunkSize                // at a chunk-size line
	inChunkData                // in the data of a chunk
	inChunkCR                  // after the data of a chunk: at its CRLF
	inChunkLF                  // after that CR
	inTrailer                  // in the trailer section
)

// Parser parses the requests of one connection, one after the other. The zero value is not usable: make one
// with NewParser.
type Parser struct {
	lim   Limits
	state state
	err   error // the error that stopped the parser, returned again by every later call

	line   []byte // the start of a line that the bytes fed so far did not finish; never over its limit
	empty  int    // empty lines skipped before the request line
	fields int    // fields in the header (or trailer) section so far
	size   int    // bytes of the header (or trailer) section so far

	req   *gateway.Request
	left  int64  // body bytes still to come: of the whole body (Content-Length), or of the current chunk
	total int64  // bytes of a chunked body so far
	data  []byte // the bytes of the last Data event
}

// NewParser returns a parser of requests with the limits lim.
func NewParser(lim Limits) *Parser {
	return &Parser{lim: lim}
}

// Request returns the request whose head the last Head event reported, until the End of that request; then nil.
// Its Body is nil: the server fills it in with the body bytes that Data events deliver. Its ContentLength is
// the declared length, or -1 for a chunked body.
func (p *Parser) Request() *gateway.Request { return p.req }

// Data returns the body bytes of the last Data event: a part of the slice given to Feed, valid as long as
// that slice is.
func (p *Parser) Data() []byte { return p.data }

// Feed parses the bytes of b until it finds an event, and returns how many bytes it used and the event. It
// returns NeedMore only once it has used every byte of b; any other event may leave bytes of b unused, which
// are for the next call. It keeps what it needs of an incomplete line, so the caller does not have to.
//
// When the request must be refused, Feed returns an *Error with the status to answer; the parser is then
// done, and every later call returns the same error.
func (p *Parser) Feed(b []byte) (n int, ev Event, err error) {
	if p.err != nil {
		return 0, NeedMore, p.err
	}
	for {
		switch p.state {
		case inBody:
			if p.left == 0 {
				p.next()
				return n, End, nil
			}
			if n == len(b) {
				return n, NeedMore, nil
			}
			k := int(min(p.left, int64(len(b)-n)))
			p.data = b[n : n+k]
			p.left -= int64(k)
			return n + k, Data, nil

		case inChunkData:
			if p.left == 0 {
				p.state = inChunkCR
				continue
			}
			if n == len(b) {
				return n, NeedMore, nil
			}
			k := int(min(p.left, int64(len(b)-n)))
			p.data = b[n : n+k]
			p.left -= int64(k)
			return n + k, Data, nil

		case inChunkCR, inChunkLF:
			if n == len(b) {
				return n, NeedMore, nil
			}
			c := b[n]
			n++
			switch {
			case c == '\n':
				p.state = inChunkSize
			case c == '\r' && p.state == inChunkCR:
				p.state = inChunkLF
			default:
				return n, NeedMore, p.fail(errorf(400, "chunk data longer than its declared size"))
			}

		default: // the states that read lines
			line, used, err := p.nextLine(b[n:])
			n += used
			if err != nil {
				return n, NeedMore, p.fail(err)
			}
			if line == nil {
				return n, NeedMore, nil
			}
			ev, err := p.onLine(line)
			p.line = p.line[:0]
			if err != nil {
				return n, NeedMore, p.fail(err)
			}
			if ev != NeedMore {
				return n, ev, nil
			}
		}
	}
}

// EOF tells the parser that the input has ended, as when the client closes the connection, and returns what
// that means: nil when it ended between two requests, an *Error (400) when it cut a request short.
func (p *Parser) EOF() error {
	if p.err != nil {
		return p.err
	}
	var err error
	switch p.state {
	case inRequestLine:
		if len(p.line) > 0 {
			err = errorf(400, "connection closed in the middle of the request line")
		}
	case inHeader, inTrailer:
		err = errorf(400, "connection closed in the middle of the headers")
	case inBody:
		if p.left > 0 {
			err = errorf(400, "connection closed with %d bytes of the body still to come", p.left)
		}
	case inChunkSize:
		err = errorf(400, "connection closed before the chunk size")
	case inChunkData:
		err = errorf(400, "connection closed in the middle of a chunk")
	case inChunkCR, inChunkLF:
		err = errorf(400, "connection closed before the line ending after chunk data")
	}
	if err != nil {
		p.fail(err)
	}
	return err
}

func (p *Parser) fail(err error) error {
	p.err = err
	p.line, p.req, p.data = nil, nil, nil
	return err
}

// next readies the parser for the next request, dropping what it kept of this one.
func (p *Parser) next() {
	*p = Parser{lim: p.lim}
}

// nextLine returns the next line of b without its line ending (CRLF, or a bare LF, which RFC 9112 section 2.2
// lets a server accept), joined to what earlier calls kept of it, and how many bytes of b it used. When b ends
// before the line does, it keeps the bytes and returns a nil line. A line over its limit is an error.
func (p *Parser) nextLine(b []byte) (line []byte, used int, err error) {
	max := p.lineLimit()
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		// The bound is the one of http1's readLine: a line may take max bytes, plus its CRLF.
		if len(p.line)+len(b) > max+2 {
			return nil, len(b), p.tooLong()
		}
		p.line = append(p.line, b...)
		return nil, len(b), nil
	}
	if len(p.line)+i+1 > max+2 {
		return nil, i + 1, p.tooLong()
	}
	if len(p.line) > 0 {
		p.line = append(p.line, b[:i]...)
		line = p.line
	} else {
		line = b[:i:i] // the whole line is in b: no copy
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > max {
		return nil, i + 1, p.tooLong()
	}
	return line, i + 1, nil
}

// lineLimit is the longest line the current state accepts.
func (p *Parser) lineLimit() int {
	switch p.state {
	case inRequestLine:
		return p.lim.MaxLine
	case inChunkSize:
		return maxChunkLine
	}
	return p.lim.MaxHeaderBytes
}

// tooLong is the error for a line over its limit, which depends on the line.
func (p *Parser) tooLong() error {
	switch p.state {
	case inRequestLine:
		return errorf(414, "request line longer than %d bytes", p.lim.MaxLine)
	case inChunkSize:
		return errorf(400, "chunk size line too long")
	}
	return errorf(431, "a header line is longer than %d bytes", p.lim.MaxHeaderBytes)
}

// onLine handles a complete line (a part of Feed's input or of p.line, to be copied if kept).
func (p *Parser) onLine(line []byte) (Event, error) {
	switch p.state {
	case inRequestLine:
		// RFC 9112 section 2.2: a server should ignore at least one empty line before the request line.
		if len(line) == 0 && p.empty < 3 {
			p.empty++
			return NeedMore, nil
		}
		req, err := parseRequestLine(string(line))
		if err != nil {
			return NeedMore, err
		}
		p.req = req
		p.state, p.fields, p.size = inHeader, 0, 0
		return NeedMore, nil

	case inHeader:
		if len(line) > 0 {
			h, err := p.field(line)
			if err != nil {
				return NeedMore, err
			}
			p.req.Header = append(p.req.Header, h)
			return NeedMore, nil
		}
		if err := checkHost(p.req); err != nil {
			return NeedMore, err
		}
		if err := p.frame(); err != nil {
			return NeedMore, err
		}
		p.line = nil // a head is done: a long line's buffer is not kept for the life of the connection
		return Head, nil

	case inChunkSize:
		n, err := parseChunkSize(line)
		if err != nil {
			return NeedMore, err
		}
		if n == 0 {
			p.state, p.fields, p.size = inTrailer, 0, 0
			return NeedMore, nil
		}
		p.total += n
		if p.total > p.lim.MaxBody {
			return NeedMore, errorf(413, "chunked body over the limit of %d bytes", p.lim.MaxBody)
		}
		p.state, p.left = inChunkData, n
		return NeedMore, nil

	case inTrailer:
		if len(line) == 0 {
			p.next()
			return End, nil
		}
		// Trailer fields are checked as header fields are, then dropped: WSGI cannot hand them to the app.
		_, err := p.field(line)
		return NeedMore, err
	}
	panic("push: a line in state " + strconv.Itoa(int(p.state)))
}

// field counts a header or trailer line against the limits, in http1's order, and parses it.
func (p *Parser) field(line []byte) (gateway.Header, error) {
	p.size += len(line) + 2
	if p.size > p.lim.MaxHeaderBytes {
		return gateway.Header{}, errorf(431, "header section larger than %d bytes", p.lim.MaxHeaderBytes)
	}
	if p.fields == p.lim.MaxHeaders {
		return gateway.Header{}, errorf(431, "more than %d header fields", p.lim.MaxHeaders)
	}
	p.fields++
	return parseField(line)
}

// frame decides how long the body is (RFC 9112 section 6.3) and sets the state that reads it.
func (p *Parser) frame() error {
	req := p.req
	te := req.Values("Transfer-Encoding")
	cl := req.Values("Content-Length")
	switch {
	case len(te) > 0 && len(cl) > 0:
		// The classic request smuggling vector: two framings that two servers in a chain may read differently.
		return errorf(400, "both Transfer-Encoding and Content-Length (request smuggling?)")
	case len(te) > 0:
		if req.Minor == 0 {
			return errorf(400, "Transfer-Encoding in an HTTP/1.0 request")
		}
		var codings []string
		for _, v := range te {
			for c := range strings.SplitSeq(v, ",") {
				codings = append(codings, strings.ToLower(strings.TrimSpace(c)))
			}
		}
		for _, c := range codings {
			if c != "chunked" {
				return errorf(501, "transfer coding %q is not supported (only chunked)", clip(c))
			}
		}
		if len(codings) != 1 {
			return errorf(400, "chunked applied more than once")
		}
		req.ContentLength = -1
		p.state = inChunkSize
	case len(cl) > 0:
		n, err := parseContentLength(cl)
		if err != nil {
			return err
		}
		if n > p.lim.MaxBody {
			return errorf(413, "body of %d bytes is over the limit of %d", n, p.lim.MaxBody)
		}
		req.ContentLength = n
		p.state, p.left = inBody, n
	default:
		req.ContentLength = 0
		p.state, p.left = inBody, 0
	}
	return nil
}
