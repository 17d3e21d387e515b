package load

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// errMalformed marks a response that cannot be framed; the connection cannot
// be trusted afterwards and is re-dialled.
var errMalformed = errors.New("malformed response")

// maxLine bounds a status, header or chunk-size line.
const maxLine = 8 << 10

// Framer states.
const (
	stStatus     = iota // before or in the status line
	stHeader            // in the header lines
	stBody              // in a Content-Length body: remaining bytes left
	stChunkSize         // before a chunk-size line
	stChunkData         // in a chunk: remaining bytes left
	stChunkEnd          // before the CRLF that ends a chunk
	stTrailer           // in the trailer of a chunked body
	stUntilClose        // in a body that ends when the server closes
)

// framer finds where HTTP/1.x responses end in a byte stream fed to it in
// pieces of any size. It reads only what framing needs (status, Content-Length,
// chunked, Connection) and skips bodies without buffering them: it is not a
// validating parser (package harness has one).
type framer struct {
	head      bool // the requests are HEADs: responses have no body
	state     int
	line      []byte // the start of a line split across pieces
	remaining int64  // body or chunk bytes left

	// The response being framed; valid once feed reports it done.
	status    int
	keepAlive bool
	length    int64 // Content-Length, or -1
	chunked   bool
}

// reset forgets any partial response, for a new connection.
func (f *framer) reset() {
	f.state = stStatus
	f.line = f.line[:0]
}

// fresh reports whether no byte of the next response has arrived.
func (f *framer) fresh() bool { return f.state == stStatus && len(f.line) == 0 }

// feed consumes b up to the end of one response and returns how many bytes it
// used. When done is true, f.status and f.keepAlive describe the response.
func (f *framer) feed(b []byte) (n int, done bool, err error) {
	for n < len(b) {
		switch f.state {
		case stBody, stChunkData:
			k := int(min(f.remaining, int64(len(b)-n)))
			n += k
			f.remaining -= int64(k)
			if f.remaining > 0 {
				return n, false, nil
			}
			if f.state == stBody {
				return n, f.finish(), nil
			}
			f.state = stChunkEnd
		case stUntilClose:
			return len(b), false, nil
		default:
			i := bytes.IndexByte(b[n:], '\n')
			if i < 0 {
				if len(f.line)+len(b)-n > maxLine {
					return n, false, fmt.Errorf("%w: line longer than %d bytes", errMalformed, maxLine)
				}
				f.line = append(f.line, b[n:]...)
				return len(b), false, nil
			}
			line := b[n : n+i]
			if len(f.line)+i > maxLine {
				return n, false, fmt.Errorf("%w: line longer than %d bytes", errMalformed, maxLine)
			}
			if len(f.line) > 0 {
				f.line = append(f.line, line...)
				line = f.line
			}
			n += i + 1
			if k := len(line); k > 0 && line[k-1] == '\r' {
				line = line[:k-1]
			}
			done, err = f.lineDone(line)
			f.line = f.line[:0]
			if done || err != nil {
				return n, done, err
			}
		}
	}
	return n, false, nil
}

// eof reports what the end of the stream means: the end of a response whose
// body runs until close (done), io.EOF between responses, or
// io.ErrUnexpectedEOF in the middle of one.
func (f *framer) eof() (done bool, err error) {
	switch {
	case f.state == stUntilClose:
		f.keepAlive = false
		f.state = stStatus
		return true, nil
	case f.state == stStatus && len(f.line) == 0:
		return false, io.EOF
	}
	return false, io.ErrUnexpectedEOF
}

// finish ends a response and readies the framer for the next one.
func (f *framer) finish() bool {
	f.state = stStatus
	return true
}

// lineDone handles one complete line.
func (f *framer) lineDone(line []byte) (done bool, err error) {
	switch f.state {
	case stStatus:
		return false, f.statusLine(line)
	case stHeader:
		if len(line) > 0 {
			return false, f.header(line)
		}
		return f.headersDone(), nil
	case stChunkSize:
		size, ok := parseChunkSize(line)
		if !ok {
			return false, fmt.Errorf("%w: chunk size %q", errMalformed, line)
		}
		if size == 0 {
			f.state = stTrailer
		} else {
			f.state, f.remaining = stChunkData, size
		}
	case stChunkEnd:
		if len(line) != 0 {
			return false, fmt.Errorf("%w: %q after chunk data", errMalformed, line)
		}
		f.state = stChunkSize
	case stTrailer:
		if len(line) == 0 {
			return f.finish(), nil
		}
	}
	return false, nil
}

func (f *framer) statusLine(line []byte) error {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	status := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return fmt.Errorf("%w: status line %q", errMalformed, line)
		}
		status = status*10 + int(c-'0')
	}
	f.status = status
	f.keepAlive = line[7] != '0' // HTTP/1.0 closes unless it says keep-alive
	f.length, f.chunked = -1, false
	f.state = stHeader
	return nil
}

func (f *framer) header(line []byte) error {
	switch line[0] | 0x20 {
	case 'c':
		if v, ok := headerValue(line, "content-length"); ok {
			if f.length, ok = parseLength(v); !ok {
				return fmt.Errorf("%w: header %q", errMalformed, line)
			}
		} else if v, ok := headerValue(line, "connection"); ok {
			if containsFold(v, "close") {
				f.keepAlive = false
			} else if containsFold(v, "keep-alive") {
				f.keepAlive = true
			}
		}
	case 't':
		if v, ok := headerValue(line, "transfer-encoding"); ok && containsFold(v, "chunked") {
			f.chunked = true
		}
	}
	return nil
}

// headersDone decides how the body is framed and reports whether the
// response is already complete.
func (f *framer) headersDone() bool {
	switch {
	case f.status == 101:
		// The connection no longer speaks HTTP: end it.
		f.keepAlive = false
		return f.finish()
	case f.status < 200:
		f.state = stStatus // an interim response: the real one follows
		return false
	case f.head || f.status == 204 || f.status == 304:
		return f.finish()
	case f.chunked:
		f.state = stChunkSize
	case f.length == 0:
		return f.finish()
	case f.length > 0:
		f.state, f.remaining = stBody, f.length
	default:
		f.state = stUntilClose
		f.keepAlive = false
	}
	return false
}

// headerValue returns the value of line if its field name is name
// (lower case), compared without regard to case.
func headerValue(line []byte, name string) ([]byte, bool) {
	if len(line) <= len(name) || line[len(name)] != ':' {
		return nil, false
	}
	for i := 0; i < len(name); i++ {
		if line[i]|0x20 != name[i] {
			return nil, false
		}
	}
	return bytes.TrimSpace(line[len(name)+1:]), true
}

// containsFold reports whether s contains the lower-case ASCII word sub,
// ignoring case.
func containsFold(s []byte, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) && s[i+j]|0x20 == sub[j] {
			j++
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}

func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseChunkSize parses the hex size of a chunk, ignoring extensions.
func parseChunkSize(line []byte) (int64, bool) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int64(c-'0')
		case 'a' <= c|0x20 && c|0x20 <= 'f':
			n = n<<4 | int64(c|0x20-'a'+10)
		default:
			return 0, false
		}
	}
	return n, true
}
