package daemon

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"course/chapters/gateway"
	"course/chapters/scgi"
)

// Hop is the front end's side of daemon mode: its App passes each request to the daemon group listening on
// Socket, and streams back what the daemon answers. A front end serves it as it would serve any application
// (chapter 2's server does): the gateway then frames the daemon's answer for the client.
type Hop struct {
	Socket string // the daemon group's socket
	// ConnectTimeout bounds the tries to connect while the group's queue is full: 503 after.
	ConnectTimeout time.Duration
	// SocketTimeout bounds each read and write on the connection to the daemon: a daemon that stops
	// talking for this long gets 504, or a cut once the response has started. Zero means no bound.
	SocketTimeout time.Duration
	Limits        scgi.Limits // zero means scgi.DefaultLimits
}

// App is the gateway.App of a front end: it stamps the request with the time it starts to wait (Stamp),
// connects to a daemon (Dial), sends the request in SCGI, reads the head of the daemon's answer, passes its
// status and headers to start, and returns a body that reads the rest from the daemon as it comes: a chunk
// the daemon sends is a chunk the client gets, and closing the body (the gateway always does, when the
// client has it all or has gone) closes the connection to the daemon, which sees its writes fail.
//
// It fails with the status a proxy answers (RFC 9110 section 15.6): 503 when no daemon accepts the request
// within ConnectTimeout, 502 when the daemon closes the connection without an answer or sends one that is
// not a response, 504 when it stops talking for SocketTimeout.
func (h *Hop) App(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	Stamp(env, time.Now())
	conn, err := Dial(h.Socket, h.ConnectTimeout)
	if err != nil {
		return nil, err
	}
	b := bodies.Get().(*body)
	b.conn = conn
	b.br.Reset(timeoutConn{conn, h.SocketTimeout})
	in := &clientBody{r: env.Input}
	env.Input = in
	sent := scgi.WriteRequest(timeoutConn{conn, h.SocketTimeout}, env)
	if sent != nil && (in.err != nil || gateway.StatusOf(sent) != 500) {
		b.Close()
		return nil, sent // the client's body failed, or cannot be sent (a NUL in a variable): the client's status
	}
	// A daemon may answer before it has read the whole request, then close: its answer is the one to pass on.
	res, err := scgi.ReadResponse(b.br, h.limits())
	switch {
	case err == nil:
	case isTimeout(err):
		err = errorf(504, "the daemon sent nothing for the socket timeout of %v", h.SocketTimeout)
	case sent != nil && isTimeout(sent):
		err = errorf(504, "the daemon read nothing of the request for the socket timeout of %v", h.SocketTimeout)
	case errors.As(err, new(*scgi.Error)):
	default:
		err = errorf(502, "the daemon's connection failed: %v", err)
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	if err := start(res.Status, res.Header); err != nil {
		b.Close()
		return nil, errorf(502, "the daemon's response: %v", err)
	}
	b.left = -1
	for _, f := range res.Header {
		if strings.EqualFold(f.Name, "Content-Length") {
			b.left, _ = strconv.ParseInt(f.Value, 10, 64) // digits: ReadResponse checked
		}
	}
	return b, nil
}

func (h *Hop) limits() scgi.Limits {
	if h.Limits == (scgi.Limits{}) {
		return scgi.DefaultLimits
	}
	return h.Limits
}

// clientBody is the request body as the client sends it, which keeps the error of a failed read: the client's
// fault (a timeout, a body too large), not the daemon's.
type clientBody struct {
	r   io.Reader
	err error
}

func (c *clientBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		c.err = err
	}
	return n, err
}

// body is a daemon's response body on its way to the client. Each one is recycled once closed, with its
// buffers: a front end passes tens of thousands of them a second.
type body struct {
	conn net.Conn
	br   *bufio.Reader
	buf  []byte
	left int64 // the bytes still to come when the daemon gave a Content-Length, else -1
}

var bodies = sync.Pool{New: func() any {
	return &body{br: bufio.NewReaderSize(nil, 4<<10), buf: make([]byte, 32<<10)}
}}

// Next returns what the daemon sent since the last call, up to 32 KiB: as it comes, not all at the end. A
// body of known length ends with its last byte, without a read that waits for the daemon's close.
func (b *body) Next() ([]byte, error) {
	if b.left == 0 {
		return nil, io.EOF
	}
	buf := b.buf
	if b.left > 0 && b.left < int64(len(buf)) {
		buf = buf[:b.left]
	}
	n, err := b.br.Read(buf)
	if n > 0 {
		if b.left > 0 {
			b.left -= int64(n)
		}
		return buf[:n], nil // an error comes again with the next read
	}
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return nil, err
	case isTimeout(err):
		return nil, errorf(504, "the daemon stopped sending its response for the socket timeout")
	}
	return nil, err
}

// Close closes the connection to the daemon: it has sent everything, or the client is gone and the daemon
// must stop (its next write fails, and it closes the application's body).
func (b *body) Close() error {
	err := b.conn.Close()
	b.conn = nil
	b.br.Reset(nil)
	bodies.Put(b)
	return err
}

// Dial connects to the daemon group's socket at path. While the group's queue is full (a connect on a full
// UNIX socket fails at once with EAGAIN) or nobody listens yet (ECONNREFUSED), it tries again, after 5 ms at
// first, then up to every 100 ms, until timeout has passed; then it fails with an error the front end answers
// 503. Other errors (no socket at path) fail at once, with 503 too. mod_wsgi does the same
// (wsgi_connect_daemon in mod_wsgi.c: every 125 ms, then every second after 2 s, for connect-timeout).
func Dial(path string, timeout time.Duration) (net.Conn, error) {
	start := time.Now()
	wait := 5 * time.Millisecond
	for tries := 1; ; tries++ {
		conn, err := net.Dial("unix", path)
		if err == nil {
			return conn, nil
		}
		if !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, errorf(503, "cannot connect to the daemons: %v", err)
		}
		left := timeout - time.Since(start)
		if left <= 0 {
			return nil, errorf(503, "no daemon took the request within the connect "+
				"timeout of %v: their queue stayed full (%d tries)", timeout, tries)
		}
		time.Sleep(min(wait, left))
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// Stamp records in env that the request starts to wait for a daemon at t, as X-Request-Start: t=<microseconds
// since the epoch>. It replaces what the client may have sent under that name: a client must not be able to
// make its request look older (to have it refused) or newer (to jump the queue timeout).
func Stamp(env *gateway.Environ, t time.Time) {
	env.Vars[RequestStart] = "t=" + strconv.FormatInt(t.UnixMicro(), 10)
}

// QueueTime returns how long the request env has waited at now, from the start its front end stamped, and
// false when there is no stamp to go by.
func QueueTime(env *gateway.Environ, now time.Time) (time.Duration, bool) {
	v, ok := strings.CutPrefix(env.Get(RequestStart), "t=")
	us, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil || us < 0 {
		return 0, false
	}
	return now.Sub(time.UnixMicro(us)), true
}
