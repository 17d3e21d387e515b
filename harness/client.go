package harness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultTimeout is the read timeout a Conn uses when given a timeout of zero or less.
const DefaultTimeout = 5 * time.Second

// SendTimeout bounds every write of a Conn: a server that stops reading must not hang the grader.
const SendTimeout = 5 * time.Second

// ErrPeerClosed is wrapped by the errors of Send and Trickle when the server had closed the connection
// (EPIPE or ECONNRESET on write); for a client that trickles or floods, that is often the expected outcome.
var ErrPeerClosed = errors.New("the server closed the connection")

// Conn is a client connection to a server under test. It parses responses strictly, keeps bytes that
// arrived after a response for the next read (pipelining), and records a transcript of all it sent and
// received. Reads and writes may run in different goroutines; reads must not run concurrently.
type Conn struct {
	nc   net.Conn
	buf  []byte // received but not yet parsed
	rbuf []byte // read scratch
	rerr error  // sticky read error: the connection closed or was reset
	tr   transcript

	mu     sync.Mutex
	closed bool
}

// Dial connects to addr, which must be a loopback address.
func Dial(addr string, timeout time.Duration) (*Conn, error) {
	return dial(addr, timeout, nil)
}

// DialSmallBuffer is Dial with the socket's receive buffer (SO_RCVBUF) set to rcvbuf bytes before it
// connects, so that the advertised TCP window stays small: for a client that reads slowly or never.
func DialSmallBuffer(addr string, rcvbuf int, timeout time.Duration) (*Conn, error) {
	return dial(addr, timeout, func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("set SO_RCVBUF to %d: %w", rcvbuf, serr)
		}
		return nil
	})
}

func dial(addr string, timeout time.Duration, control func(string, string, syscall.RawConn) error) (*Conn, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	d := net.Dialer{Timeout: timeout, Control: control}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &Conn{nc: nc}, nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	if !IsLoopback(host) {
		return fmt.Errorf("dial %s: not a loopback address (the harness only talks to local servers)", addr)
	}
	return nil
}

// IsLoopback reports whether host (an IP address or a name, without a port) is this machine: localhost, or
// an address in 127.0.0.0/8 or ::1. The course's tools send traffic to no other address.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Raw returns the underlying connection, for what Conn does not offer; bytes moved through it are not
// recorded in the transcript.
func (c *Conn) Raw() net.Conn { return c.nc }

// Send writes all of b, giving up after SendTimeout.
func (c *Conn) Send(b []byte) error {
	n, err := c.write(b)
	if err != nil {
		return sendError("send", err, n, len(b))
	}
	return nil
}

// SendString is Send for a string.
func (c *Conn) SendString(s string) error { return c.Send([]byte(s)) }

func (c *Conn) write(b []byte) (int, error) {
	if err := c.nc.SetWriteDeadline(time.Now().Add(SendTimeout)); err != nil {
		return 0, err
	}
	n, err := c.nc.Write(b)
	c.tr.add(sent, b[:n])
	if err != nil {
		c.tr.note(sent, "write failed: "+eventName(err))
	}
	return n, err
}

func sendError(op string, err error, n, total int) error {
	switch {
	case errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("%s: %w after %d of %d bytes: %w", op, ErrPeerClosed, n, total, err)
	case isTimeout(err):
		return fmt.Errorf("%s: the server stopped reading: %d of %d bytes written in %v: %w", op, n, total, SendTimeout, err)
	}
	return fmt.Errorf("%s: %d of %d bytes written: %w", op, n, total, err)
}

// Trickle sends b chunk bytes at a time, pausing every between writes, as a slow client does. It stops at
// the first failed write; when the server has closed the connection the error wraps ErrPeerClosed.
func (c *Conn) Trickle(b []byte, chunk int, every time.Duration) error {
	chunk = max(chunk, 1)
	for off := 0; off < len(b); off += chunk {
		if off > 0 {
			time.Sleep(every)
		}
		n, err := c.write(b[off:min(off+chunk, len(b))])
		if err != nil {
			return sendError("trickle", err, off+n, len(b))
		}
	}
	return nil
}

// fill reads once into the buffer, waiting until deadline (none if zero). A read error other than a
// timeout is kept: later reads return it at once.
func (c *Conn) fill(deadline time.Time) error {
	if c.rerr != nil {
		return c.rerr
	}
	if err := c.nc.SetReadDeadline(deadline); err != nil {
		c.rerr = err
		return err
	}
	if c.rbuf == nil {
		c.rbuf = make([]byte, 64<<10)
	}
	n, err := c.nc.Read(c.rbuf)
	c.buf = append(c.buf, c.rbuf[:n]...)
	c.tr.add(received, c.rbuf[:n])
	if err != nil && !isTimeout(err) {
		c.rerr = err
		c.tr.note(received, eventName(err))
	}
	return err
}

func (c *Conn) consume(n int) { c.buf = append(c.buf[:0], c.buf[n:]...) }

// Buffered returns a copy of the bytes received but not yet parsed as a response.
func (c *Conn) Buffered() []byte { return bytes.Clone(c.buf) }

// ReadResponse reads until one complete response has arrived, waiting at most timeout, and returns it.
// head is true when the request was HEAD. Bytes after the response stay buffered for the next call. The
// error is a *ParseError for an invalid response, or a *ReadError when the time ran out or the connection
// closed before a complete response.
func (c *Conn) ReadResponse(timeout time.Duration, head bool) (*Response, error) {
	timeout = orDefault(timeout)
	return c.readResponse(time.Now().Add(timeout), timeout, head)
}

// ReadResponses reads n responses (to requests other than HEAD), all within timeout. It returns those
// that were read before any error.
func (c *Conn) ReadResponses(n int, timeout time.Duration) ([]*Response, error) {
	timeout = orDefault(timeout)
	deadline := time.Now().Add(timeout)
	rs := make([]*Response, 0, n)
	for i := range n {
		r, err := c.readResponse(deadline, timeout, false)
		if err != nil {
			return rs, fmt.Errorf("response %d of %d: %w", i+1, n, err)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

func (c *Conn) readResponse(deadline time.Time, timeout time.Duration, head bool) (*Response, error) {
	for {
		if len(c.buf) > 0 || c.rerr != nil {
			parse := ParseResponse
			if c.rerr != nil {
				parse = ParseResponseEOF
			}
			r, n, err := parse(c.buf, head)
			if err == nil {
				c.consume(n)
				return r, nil
			}
			pe := err.(*ParseError)
			if !pe.Incomplete {
				return nil, err
			}
			if c.rerr != nil {
				return nil, c.readError(c.rerr, timeout)
			}
		}
		if err := c.fill(deadline); err != nil && isTimeout(err) {
			return nil, c.readError(err, timeout)
		}
	}
}

func (c *Conn) readError(err error, timeout time.Duration) *ReadError {
	e := &ReadError{Err: err, Wait: timeout, Got: bytes.Clone(c.buf)}
	if len(c.buf) > 0 {
		_, _, perr := ParseResponse(c.buf, false)
		e.Partial, _ = perr.(*ParseError)
	}
	return e
}

// ReadError reports a read that ended before a complete response arrived: the wait ran out, or the
// connection closed or was reset. errors.Is(err, os.ErrDeadlineExceeded), io.EOF or syscall.ECONNRESET
// tell which.
type ReadError struct {
	Err     error         // the network error
	Wait    time.Duration // how long the read waited in all
	Got     []byte        // the bytes of the unfinished response
	Partial *ParseError   // what Got lacks; nil when nothing arrived
}

func (e *ReadError) Error() string {
	var what string
	switch {
	case e.Timeout():
		what = fmt.Sprintf("no complete response within %v", e.Wait)
	case errors.Is(e.Err, io.EOF):
		what = "the server closed the connection before a complete response"
	case errors.Is(e.Err, syscall.ECONNRESET):
		what = "the server reset the connection before a complete response"
	default:
		what = fmt.Sprintf("reading the response failed (%v)", e.Err)
	}
	if len(e.Got) == 0 {
		return what + ": no bytes arrived"
	}
	s := fmt.Sprintf("%s: %d bytes arrived: %s", what, len(e.Got), quote(e.Got, 200))
	if e.Partial != nil {
		s += " (" + e.Partial.Reason + ")"
	}
	return s
}

func (e *ReadError) Unwrap() error { return e.Err }

// Timeout reports whether the read ended because the time ran out.
func (e *ReadError) Timeout() bool { return isTimeout(e.Err) }

// timeoutError is an error with its own message that still matches os.ErrDeadlineExceeded.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string        { return e.msg }
func (e *timeoutError) Timeout() bool        { return true }
func (e *timeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }

// ExpectClosed waits up to timeout for the server to close the connection (EOF or reset) and returns nil
// if it does without sending anything more. It fails on any byte after the last response read, or when
// the connection is still open at the end.
func (c *Conn) ExpectClosed(timeout time.Duration) error {
	timeout = orDefault(timeout)
	deadline := time.Now().Add(timeout)
	for {
		if len(c.buf) > 0 {
			return fmt.Errorf("unexpected extra bytes after the response: %s", quote(c.buf, 200))
		}
		if c.rerr != nil {
			if closedByPeer(c.rerr) {
				return nil
			}
			return fmt.Errorf("waiting for the server to close the connection: %w", c.rerr)
		}
		if err := c.fill(deadline); err != nil && isTimeout(err) && len(c.buf) == 0 {
			return &timeoutError{fmt.Sprintf("connection still open after %v (expected the server to close it)", timeout)}
		}
	}
}

// ExpectQuiet returns nil when nothing arrives for d and the connection stays open.
func (c *Conn) ExpectQuiet(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if len(c.buf) > 0 {
			return fmt.Errorf("unexpected bytes (expected silence for %v): %s", d, quote(c.buf, 200))
		}
		if c.rerr != nil {
			return fmt.Errorf("expected the connection to stay open for %v: %s", d, DescribeNetError(c.rerr))
		}
		if err := c.fill(deadline); err != nil && isTimeout(err) && len(c.buf) == 0 {
			return nil
		}
	}
}

// Reset closes the connection abortively (SO_LINGER 0), so that the server sees an RST rather than a FIN.
func (c *Conn) Reset() error {
	if tc, ok := c.nc.(*net.TCPConn); ok {
		if err := tc.SetLinger(0); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
	}
	c.tr.note(sent, "RST (abortive close)")
	return c.close()
}

// CloseWrite half-closes the connection: the server reads EOF, and can still answer.
func (c *Conn) CloseWrite() error {
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		return fmt.Errorf("close write: %T is not a TCP connection", c.nc)
	}
	c.tr.note(sent, "FIN (half-close: no more requests)")
	return tc.CloseWrite()
}

// Close closes the connection. Closing it again does nothing.
func (c *Conn) Close() error { return c.close() }

func (c *Conn) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.nc.Close()
}

// Transcript returns what was sent ("> ") and received ("< ") on the connection, in order, one line per
// line of the protocol, with CR, LF, tabs and non-printable bytes escaped so that they can be seen. It
// keeps the first 8 KiB in each direction and says how much it left out.
func (c *Conn) Transcript() string { return c.tr.String() }

const (
	sent     = 0
	received = 1

	transcriptLimit = 8 << 10
)

var transcriptPrefix = [2]string{"> ", "< "}

type transcript struct {
	mu      sync.Mutex
	events  []event
	kept    [2]int
	dropped [2]int
}

type event struct {
	dir  int
	data []byte
	note string
}

func (t *transcript) add(dir int, p []byte) {
	if len(p) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	keep := min(len(p), transcriptLimit-t.kept[dir])
	t.dropped[dir] += len(p) - keep
	if keep == 0 {
		return
	}
	t.kept[dir] += keep
	if n := len(t.events); n > 0 && t.events[n-1].dir == dir && t.events[n-1].note == "" {
		t.events[n-1].data = append(t.events[n-1].data, p[:keep]...)
		return
	}
	t.events = append(t.events, event{dir: dir, data: bytes.Clone(p[:keep])})
}

func (t *transcript) note(dir int, s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = append(t.events, event{dir: dir, note: s})
}

func (t *transcript) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	for _, e := range t.events {
		prefix := transcriptPrefix[e.dir]
		if e.note != "" {
			b.WriteString(prefix + "[" + e.note + "]\n")
			continue
		}
		for line := range bytes.Lines(e.data) {
			b.WriteString(prefix)
			writeEscaped(&b, line)
			b.WriteByte('\n')
		}
	}
	if t.dropped[sent]+t.dropped[received] > 0 {
		fmt.Fprintf(&b, "[... not shown: %d more bytes sent, %d more bytes received; the transcript keeps the first %d bytes each way]\n",
			t.dropped[sent], t.dropped[received], transcriptLimit)
	}
	return b.String()
}

// writeEscaped writes p with CR, LF, tab, backslash and non-printable bytes escaped as in Go strings.
func writeEscaped(b *strings.Builder, p []byte) {
	for _, c := range p {
		switch {
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\\':
			b.WriteString(`\\`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
}

// Request builds a request head: "METHOD target HTTP/1.1", a "Host: 127.0.0.1" line unless headers
// has a Host line, each of headers (as "Name: value"), and the empty line. Append a body if it needs one.
func Request(method, target string, headers ...string) []byte {
	return RequestTo("127.0.0.1", method, target, headers...)
}

// RequestTo builds a request head as Request does, with "Host: host" unless headers has a Host line.
func RequestTo(host, method, target string, headers ...string) []byte {
	var b bytes.Buffer
	b.WriteString(method + " " + target + " HTTP/1.1\r\n")
	hasHost := false
	for _, h := range headers {
		name, _, _ := strings.Cut(h, ":")
		hasHost = hasHost || strings.EqualFold(strings.TrimSpace(name), "Host")
	}
	if !hasHost {
		b.WriteString("Host: " + host + "\r\n")
	}
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// Garbage returns n random bytes, the same for the same seed: any byte value may appear, CR and LF
// included. It is for fuzzing a server's request parser.
func Garbage(n int, seed int64) []byte {
	r := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// DescribeNetError turns a network or parse error into one sentence for a learner, with a hint at the
// usual cause. It returns "" for nil.
func DescribeNetError(err error) string {
	if err == nil {
		return ""
	}
	var te *timeoutError
	if errors.As(err, &te) {
		return te.msg
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		if pe.Incomplete {
			return "the response was cut short: " + pe.Reason
		}
		return fmt.Sprintf("the response is not valid HTTP/1.1 (at byte %d): %s", pe.Offset, pe.Reason)
	}
	got := ""
	var re *ReadError
	if errors.As(err, &re) && len(re.Got) > 0 {
		got = fmt.Sprintf(" (%d bytes of a response had arrived)", len(re.Got))
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: nothing is listening on that port; did the server exit or crash?"
	case errors.Is(err, syscall.ECONNRESET):
		return "the server reset the connection (RST): it closed the socket while unread data was in its buffer, or crashed" + got
	case errors.Is(err, syscall.EPIPE) || errors.Is(err, ErrPeerClosed):
		return "the server had already closed the connection when we sent more (broken pipe): did it close before reading the whole request?"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "the server closed the connection (EOF) before a complete response: did it close instead of answering, or crash?" + got
	case isTimeout(err):
		return "timed out waiting for the server: it accepted the connection but did not answer in time; is it busy with another connection, or waiting for more of the request than was sent?" + got
	case errors.Is(err, syscall.ETIMEDOUT):
		return "the connection timed out in TCP: the server stopped acknowledging data"
	case errors.Is(err, net.ErrClosed):
		return "the connection was already closed on our side"
	}
	return err.Error()
}

// eventName names what a read or write error says happened to the connection, for the transcript.
func eventName(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "EOF: the server closed the connection"
	case errors.Is(err, syscall.ECONNRESET):
		return "RST: the server reset the connection"
	case errors.Is(err, syscall.EPIPE):
		return "EPIPE: the server had closed the connection"
	case isTimeout(err):
		return "timeout"
	}
	return err.Error()
}

func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func orDefault(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultTimeout
	}
	return d
}
