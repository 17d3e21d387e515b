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
// The parser applies the syntax rules and limits of http1.ReadRequest, which package http1 exports for it
// (http1.ParseRequestLine, http1.ParseField, ...), and answers the same bytes with the same status (a test
// feeds both the same requests, split in every way): 400 for a malformed request, 413, 414, 431, 501 and 505.
// What it adds is the state machine. It does not import package net, directly or otherwise, so that the
// event-driven server, which does its socket I/O itself, can show that it uses none of Go's networking.
package push

import (
	"bytes"
	"fmt"
	"strconv"

	"course/chapters/gateway"
	"course/chapters/http1"
)

// errorf returns a refusal with the status code, as http1's parser does.
func errorf(code int, format string, args ...any) *http1.Error {
	return &http1.Error{Code: code, Reason: fmt.Sprintf(format, args...)}
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
	lim   http1.Limits
	state state
	err   error // the error that stopped the parser, returned again by every later call

	line  []byte        // the start of a line that the bytes fed so far did not finish; never over its limit
	empty int           // empty lines skipped before the request line
	sec   http1.Section // the header (or trailer) section so far

	req   *gateway.Request
	left  int64  // body bytes still to come: of the whole body (Content-Length), or of the current chunk
	total int64  // bytes of a chunked body so far
	data  []byte // the bytes of the last Data event
}

// NewParser returns a parser of requests with the limits lim.
func NewParser(lim http1.Limits) *Parser {
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
// When the request must be refused, Feed returns an *http1.Error with the status to answer; the parser is
// then done, and every later call returns the same error.
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
			return p.take(b, n)

		case inChunkData:
			if p.left == 0 {
				p.state = inChunkCR
				continue
			}
			return p.take(b, n)

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
// that means: nil when it ended between two requests, an *http1.Error (400) when it cut a request short.
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
		return http1.MaxChunkLine
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
		req, err := http1.ParseRequestLine(string(line))
		if err != nil {
			return NeedMore, err
		}
		p.req = req
		p.state, p.sec = inHeader, http1.Section{}
		return NeedMore, nil

	case inHeader:
		if len(line) > 0 {
			h, err := p.sec.Field(line, p.lim)
			if err != nil {
				return NeedMore, err
			}
			p.req.Header = append(p.req.Header, h)
			return NeedMore, nil
		}
		if err := http1.CheckHost(p.req); err != nil {
			return NeedMore, err
		}
		if err := p.frame(); err != nil {
			return NeedMore, err
		}
		p.line = nil // a head is done: a long line's buffer is not kept for the life of the connection
		return Head, nil

	case inChunkSize:
		n, err := http1.ParseChunkSize(line)
		if err != nil {
			return NeedMore, err
		}
		if n == 0 {
			p.state, p.sec = inTrailer, http1.Section{}
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
		_, err := p.sec.Field(line, p.lim)
		return NeedMore, err
	}
	panic("push: a line in state " + strconv.Itoa(int(p.state)))
}

// frame sets the state that reads the body, framed as http1.BodyLength decides.
func (p *Parser) frame() error {
	n, err := http1.BodyLength(p.req, p.lim)
	if err != nil {
		return err
	}
	p.req.ContentLength = n
	if n < 0 {
		p.state = inChunkSize
	} else {
		p.state, p.left = inBody, n
	}
	return nil
}

// take returns the body bytes of b[n:] that belong to the current length or chunk, as a Data event.
func (p *Parser) take(b []byte, n int) (int, Event, error) {
	if n == len(b) {
		return n, NeedMore, nil
	}
	k := int(min(p.left, int64(len(b)-n)))
	p.data = b[n : n+k]
	p.left -= int64(k)
	return n + k, Data, nil
}
