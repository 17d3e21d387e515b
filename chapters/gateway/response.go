package gateway

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// hopByHop lists the headers that describe one connection rather than the message, which only the server may
// send (RFC 9110 section 7.6.1; PEP 3333 forbids them from the app).
var hopByHop = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer", "Trailers",
	"Transfer-Encoding", "Upgrade",
}

// isHopByHop reports whether name is a hop-by-hop header, without allocating: it runs for every header of
// every response.
func isHopByHop(name string) bool {
	for _, h := range hopByHop {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// date returns the Date header line for now, formatted once a second rather than once a response.
func date() string {
	now := time.Now().Unix()
	if d := lastDate.Load(); d != nil && d.unix == now {
		return d.line
	}
	d := &dateLine{now, "Date: " + time.Unix(now, 0).UTC().Format(timeFormat) + "\r\n"}
	lastDate.Store(d)
	return d.line
}

type dateLine struct {
	unix int64
	line string
}

var lastDate atomic.Pointer[dateLine]

// Result says how a response went.
type Result struct {
	Status    int   // the status sent: the app's, or 500 when the app failed before sending anything
	KeepAlive bool  // the connection may carry another request
	BodyBytes int64 // body bytes sent, framing excluded
}

// ErrAborted reports a response cut short after its headers were sent: the app failed mid-body or sent fewer
// bytes than its Content-Length. The client can only learn of it by the connection closing, so the server
// must close it.
var ErrAborted = errors.New("response aborted after the headers were sent")

// flusher is implemented by buffered writers such as *bufio.Writer.
type flusher interface{ Flush() error }

// Respond runs app for req and writes the response to w, doing the server's half of the gateway contract.
// If mustClose is set the response says "Connection: close" whatever the client asked. When w has a Flush
// method, Respond flushes after each chunk (the headers go with the first one), so that a streamed body streams.
//
// The returned error is a write error or ErrAborted; either way the server must close the connection.
// An app failure before any byte was sent is not an error: it is answered with a 500 (see StatusOf).
func Respond(w io.Writer, req *Request, env *Environ, app App, mustClose bool) (Result, error) {
	head := req.Method == "HEAD"
	r := &response{}
	body, err := callApp(app, env, r.start)
	if body == nil {
		body = Bytes() // a nil body is an empty one
	}
	sized, _ := body.(Sized)
	body = safeBody{body}
	defer body.Close()
	if err == nil && r.err != nil {
		err = r.err
	}
	if err == nil && r.status == "" {
		err = errors.New("the app returned without calling start_response")
	}

	// Pull the first non-empty chunk before sending anything: until then the app may still fail and get a 500.
	var first []byte
	eof := false
	if err == nil && !head && bodyAllowed(r.code) {
		for len(first) == 0 && !eof {
			first, err = body.Next()
			if errors.Is(err, io.EOF) {
				eof, err = true, nil
			}
			if err != nil {
				break
			}
		}
	}
	if err == nil && r.status == "" {
		err = errors.New("the app returned without calling start_response")
	}
	if err != nil {
		fmt.Fprintf(env.Errors, "app error on %s %s: %v\n", req.Method, req.Target, err)
		code := StatusOf(err)
		close := mustClose || !req.WantsKeepAlive() || code >= 400 && code != 500
		var extra []Header
		if !close && req.Minor == 0 {
			extra = append(extra, Header{"Connection", "keep-alive"})
		}
		if werr := WriteError(w, code, "", close, extra...); werr != nil {
			return Result{Status: code}, werr
		}
		return Result{Status: code, KeepAlive: !close}, nil
	}

	// Decide the framing.
	length := int64(-1)
	if r.contentLength >= 0 {
		length = r.contentLength
	} else if eof {
		length = int64(len(first))
	} else if sized != nil {
		length = int64(len(first) + sized.Len())
	}
	keep := !mustClose && req.WantsKeepAlive()
	chunked := false
	if bodyAllowed(r.code) && length < 0 {
		if req.Major == 1 && req.Minor >= 1 {
			chunked = !head
		} else {
			keep = false // HTTP/1.0 without a length: the end of the body is the close
		}
	}

	var b strings.Builder
	b.Grow(256)
	b.WriteString("HTTP/1.1 ")
	b.WriteString(r.status)
	b.WriteString("\r\n")
	for _, h := range r.headers {
		b.WriteString(h.Name)
		b.WriteString(": ")
		b.WriteString(h.Value)
		b.WriteString("\r\n")
	}
	if !r.hasDate {
		b.WriteString(date())
	}
	if r.contentLength < 0 && length >= 0 && bodyAllowed(r.code) {
		b.WriteString("Content-Length: " + strconv.FormatInt(length, 10) + "\r\n")
	}
	if chunked {
		b.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case !keep:
		b.WriteString("Connection: close\r\n")
	case req.Minor == 0:
		b.WriteString("Connection: keep-alive\r\n")
	}
	b.WriteString("\r\n")
	res := Result{Status: r.code, KeepAlive: keep}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return res, err
	}
	if head || !bodyAllowed(r.code) {
		return res, flush(w)
	}

	// Send the body chunk by chunk, never more than a declared Content-Length.
	chunk := first
	for {
		if len(chunk) > 0 {
			if length >= 0 && res.BodyBytes+int64(len(chunk)) > length {
				chunk = chunk[:length-res.BodyBytes]
				eof, err = true, ErrAborted
			}
			if err := writeChunk(w, chunk, chunked); err != nil {
				return res, err
			}
			res.BodyBytes += int64(len(chunk))
			if err := flush(w); err != nil {
				return res, err
			}
		}
		if eof {
			break
		}
		chunk, err = body.Next()
		if errors.Is(err, io.EOF) {
			eof, err = true, nil
		}
		if err != nil {
			fmt.Fprintf(env.Errors, "app error mid-body on %s %s: %v\n", req.Method, req.Target, err)
			res.KeepAlive = false
			return res, ErrAborted
		}
	}
	if err != nil || length >= 0 && res.BodyBytes != length {
		fmt.Fprintf(env.Errors, "app error on %s %s: the body does not match Content-Length %d\n", req.Method, req.Target, length)
		res.KeepAlive = false
		return res, ErrAborted
	}
	if chunked {
		if _, err := io.WriteString(w, "0\r\n\r\n"); err != nil {
			return res, err
		}
	}
	return res, flush(w)
}

// callApp calls app, turning a panic into an error so that one bad request cannot take the server down.
func callApp(app App, env *Environ, start StartResponse) (body Body, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("app panicked: %v", p)
		}
	}()
	return app(env, start)
}

// safeBody turns a panic in the app's body into an error, as WSGI servers catch exceptions raised while they
// iterate the app's response.
type safeBody struct{ b Body }

func (s safeBody) Next() (p []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("app body panicked: %v", r)
		}
	}()
	return s.b.Next()
}

func (s safeBody) Close() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("app body's Close panicked: %v", r)
		}
	}()
	return s.b.Close()
}

func writeChunk(w io.Writer, p []byte, chunked bool) error {
	if chunked {
		if _, err := fmt.Fprintf(w, "%x\r\n", len(p)); err != nil {
			return err
		}
	}
	if _, err := w.Write(p); err != nil {
		return err
	}
	if chunked {
		_, err := io.WriteString(w, "\r\n")
		return err
	}
	return nil
}

func flush(w io.Writer) error {
	if f, ok := w.(flusher); ok {
		return f.Flush()
	}
	return nil
}

// bodyAllowed reports whether a response with this status may have a body (RFC 9110 section 6.4.1).
func bodyAllowed(code int) bool {
	return code >= 200 && code != 204 && code != 304
}

// response collects what the app passes to start_response.
type response struct {
	status        string
	code          int
	headers       []Header
	contentLength int64
	hasDate       bool
	err           error     // a bad call to start_response, kept in case the app ignores the returned error
	few           [2]Header // room for the headers of most responses, which saves an allocation per response
}

func (r *response) start(status string, headers []Header) error {
	err := r.check(status, headers)
	if err != nil {
		r.err = err
		return err
	}
	r.err = nil
	return nil
}

func (r *response) check(status string, headers []Header) error {
	code, reason, ok := strings.Cut(status, " ")
	n, err := strconv.Atoi(code)
	if !ok || err != nil || len(code) != 3 || n < 200 || n > 599 || strings.ContainsAny(reason, "\r\n") {
		return fmt.Errorf("start_response: bad status %q (want a code from 200 to 599 and a reason, as in \"200 OK\")", status)
	}
	r.status, r.code, r.headers, r.contentLength, r.hasDate = status, n, r.few[:0], -1, false
	for _, h := range headers {
		if isHopByHop(h.Name) {
			return fmt.Errorf("start_response: %q is a hop-by-hop header, which only the server may send", h.Name)
		}
		if !IsToken(h.Name) || strings.ContainsAny(h.Value, "\r\n\x00") {
			return fmt.Errorf("start_response: bad header %q: %q", h.Name, h.Value)
		}
		switch {
		case strings.EqualFold(h.Name, "Content-Length"):
			cl, err := strconv.ParseInt(h.Value, 10, 64)
			if err != nil || cl < 0 {
				return fmt.Errorf("start_response: bad Content-Length %q", h.Value)
			}
			r.contentLength = cl
		case strings.EqualFold(h.Name, "Date"):
			r.hasDate = true
		}
		r.headers = append(r.headers, h)
	}
	return nil
}

// IsToken reports whether s is a token of RFC 9110 section 5.6.2, as header field names and methods are.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// timeFormat is the IMF-fixdate of RFC 9110 section 5.6.7.
const timeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// WriteError writes a short plain-text response with status code and msg (which may be empty), as a server
// does for requests it refuses (400, 413, 503, ...). If close is set it says "Connection: close"; the caller then closes the connection.
// Extra headers, such as Retry-After, go before the body.
func WriteError(w io.Writer, code int, msg string, close bool, extra ...Header) error {
	body := fmt.Sprintf("%d %s\n", code, Reason(code))
	if msg != "" {
		body = fmt.Sprintf("%d %s: %s\n", code, Reason(code), msg)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", code, Reason(code))
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	b.WriteString(date())
	fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	for _, h := range extra {
		b.WriteString(h.Name + ": " + h.Value + "\r\n")
	}
	if close {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	return flush(w)
}

// Reason returns the reason phrase of an HTTP status code, or "Unknown".
func Reason(code int) string {
	if r, ok := reasons[code]; ok {
		return r
	}
	return "Unknown"
}

var reasons = map[int]string{
	200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 302: "Found", 304: "Not Modified",
	400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
	411: "Length Required", 413: "Content Too Large", 414: "URI Too Long", 417: "Expectation Failed",
	431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
	502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
}
