package scgi

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"

	"course/chapters/gateway"
	"course/chapters/http1"
)

// Response is a daemon's response as the front end reads it.
type Response struct {
	Status string // the status code and reason: "200 OK"
	Code   int    // 200

	// Header holds the header fields in the order they came, without Status (which is Code), without
	// Connection and Keep-Alive (which were about the hop from the daemon, not about the response) and
	// without fields of empty value (which CGI counts as not sent).
	Header []gateway.Header

	// Body yields the body: what follows the header section, until the daemon closes the connection. When
	// Header has a Content-Length, a correct daemon sends that many bytes.
	Body io.Reader
}

// ReadResponse reads a daemon's response head from br, as a front end does after WriteRequest; the body
// follows in Response.Body. It takes the two forms daemons send:
//
//   - a CGI response (RFC 3875 section 6), as Python's wsgiref and Respond write: header fields, one of them
//     "Status: 404 Not Found"; without Status the status is 200, or 302 when there is a Location (section
//     6.2.3: a client redirect). A Location without Status that is a local path asks a CGI server to fetch
//     that path itself (section 6.2.2); WSGI daemons always send a Status, and, as nginx does for SCGI, this
//     reader answers such a response with 302 like any other redirect;
//   - an HTTP status line first, "HTTP/1.1 404 Not Found", as CGI's non-parsed-header scripts (section 5) and
//     uWSGI do. nginx reads SCGI responses the same way (ngx_http_scgi_module.c: a status line if there is
//     one, else a Status header, else Location, else 200).
//
// Lines may end in CRLF or in a bare LF (section 6.3.4). A response that breaks these rules or lim, or that
// says Transfer-Encoding (an SCGI body is raw bytes until the close), is an *Error with status 502; one that
// ends before its head does too, which is how a daemon that crashed or was killed mid-request shows.
func ReadResponse(br *bufio.Reader, lim Limits) (*Response, error) {
	budget := lim.MaxHeader
	res := &Response{Body: br}
	var location string
	for first := true; ; first = false {
		line, err := readLine(br, &budget, lim.MaxHeader)
		switch {
		case errors.Is(err, io.EOF) && first:
			return nil, responseError("the daemon closed the connection without answering")
		case errors.Is(err, io.EOF):
			return nil, responseError("the daemon closed the connection in the middle of its header section")
		case err != nil:
			return nil, err
		}
		if len(line) == 0 {
			break
		}
		if first && bytes.HasPrefix(line, []byte("HTTP/")) {
			if err := res.setStatusLine(string(line)); err != nil {
				return nil, err
			}
			continue
		}
		h, err := http1.ParseField(line)
		if err != nil {
			var he *http1.Error
			if errors.As(err, &he) {
				return nil, responseError("%s", he.Reason)
			}
			return nil, responseError("%v", err)
		}
		switch {
		case h.Value == "":
			// RFC 3875 section 6.3: a field of empty value is the same as no field at all.
		case strings.EqualFold(h.Name, "Status"):
			if res.Code != 0 {
				return nil, responseError("the status is given twice (a second one is %q)", h.Value)
			}
			if err := res.setStatus(h.Value); err != nil {
				return nil, err
			}
		case strings.EqualFold(h.Name, "Connection"), strings.EqualFold(h.Name, "Keep-Alive"):
			// About the daemon's connection, which ends with this response (RFC 3875 section 6.3.4 lets the
			// server remove such fields; RFC 9110 section 7.6.1 says a proxy must).
		case strings.EqualFold(h.Name, "Transfer-Encoding"):
			return nil, responseError("Transfer-Encoding: %s (the body of an SCGI response is sent as it is, "+
				"until the daemon closes the connection)", h.Value)
		case strings.EqualFold(h.Name, "Content-Length") && !isDigits(h.Value):
			return nil, responseError("Content-Length %q is not a number of bytes", h.Value)
		case strings.EqualFold(h.Name, "Location") && location != "":
			return nil, responseError("Location is given twice")
		default:
			if strings.EqualFold(h.Name, "Location") {
				location = h.Value
			}
			res.Header = append(res.Header, h)
		}
	}
	switch {
	case res.Code != 0:
	case location != "":
		res.Code, res.Status = 302, "302 Found"
	default:
		res.Code, res.Status = 200, "200 OK"
	}
	return res, nil
}

// setStatusLine takes the status from an HTTP status line, "HTTP/1.1 200 OK".
func (r *Response) setStatusLine(line string) error {
	proto, status, _ := strings.Cut(line, " ")
	if proto != "HTTP/1.0" && proto != "HTTP/1.1" {
		return responseError("bad status line %q", line)
	}
	return r.setStatus(status)
}

// setStatus takes the status from the value of a Status field or the rest of a status line: "404 Not Found",
// or "404" alone, to which it adds the usual reason.
func (r *Response) setStatus(s string) error {
	code, reason, _ := strings.Cut(s, " ")
	n, err := strconv.Atoi(code)
	if err != nil || len(code) != 3 || n < 200 || n > 599 {
		return responseError("bad status %q (want a code from 200 to 599 and a reason, as in 404 Not Found)", s)
	}
	if reason = strings.TrimSpace(reason); reason == "" {
		reason = gateway.Reason(n)
	}
	r.Code, r.Status = n, code+" "+reason
	return nil
}

// readLine returns the next line of a response head without its line ending, CRLF or a bare LF. The lines of
// one head may take max bytes in all; *budget is what is left of them.
func readLine(br *bufio.Reader, budget *int, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > *budget {
			return nil, responseError("the header section is longer than %d bytes", max)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return nil, err
		}
		*budget -= len(line)
		line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
		return line, nil
	}
}

func isDigits(s string) bool {
	return s != "" && len(s) <= 18 && strings.Trim(s, "0123456789") == ""
}

// Respond runs app for env and writes its response to w as a CGI response (RFC 3875 section 6), as a daemon
// does for each request, then reads what the app left unread of the request body.
//
// It lets the gateway do all it does in process (check what the app passes to start_response, turn an
// error or a panic into a 500, send nothing before the first non-empty chunk, close the body), on the request
// seen as HTTP/1.0: the framing that suits SCGI, a Content-Length when the length is known and otherwise a body
// that ends when the connection closes. Then it writes the head in CGI's form: "Status: 200 OK" rather than a
// status line, and no Connection field, which would be about the hop rather than the response. A daemon in
// any language speaks the same way (Python's wsgiref writes CGI responses), and the front end, which alone
// talks HTTP to the client, frames the body for its client as it likes (chunked, for a stream to an HTTP/1.1
// client).
//
// The unread body is read before the caller closes the connection because closing a socket with bytes still
// unread makes the kernel reset the connection (for a UNIX socket too), and a front end that reads a body
// until the close would take the reset for a daemon that failed mid-response.
func Respond(w io.Writer, env *gateway.Environ, app gateway.App) (gateway.Result, error) {
	target := env.Get("PATH_INFO") // for the gateway's log lines only
	if q := env.Get("QUERY_STRING"); q != "" {
		target += "?" + q
	}
	length, _ := strconv.ParseInt(env.Get("CONTENT_LENGTH"), 10, 64)
	req := &gateway.Request{
		Method: env.Get("REQUEST_METHOD"), Target: target, Proto: "HTTP/1.0", Major: 1, Minor: 0,
		Body: env.Input, ContentLength: length,
	}
	// The gateway flushes bw after each chunk: the head goes out with the first one.
	bw := bufio.NewWriter(&cgiWriter{w: w})
	res, err := gateway.Respond(bw, req, env, app, true)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if _, derr := io.Copy(io.Discard, env.Input); err == nil {
		err = derr
	}
	return res, err
}

// WriteError writes a short CGI response with status code and msg, as a daemon answers a request it does not
// run (a request that waited past its queue timeout gets 504).
func WriteError(w io.Writer, code int, msg string) error {
	return gateway.WriteError(&cgiWriter{w: w}, code, msg, true)
}

// cgiWriter turns the HTTP response that package gateway writes into a CGI response on its way to w: the
// status line "HTTP/1.1 200 OK" becomes the field "Status: 200 OK", and the Connection field goes. It holds
// the head back until its blank line has come, then passes everything through.
type cgiWriter struct {
	w    io.Writer
	head []byte // the head so far
	done bool   // the head has gone
}

func (c *cgiWriter) Write(p []byte) (int, error) {
	if c.done {
		return c.w.Write(p)
	}
	c.head = append(c.head, p...)
	end := bytes.Index(c.head, []byte("\r\n\r\n"))
	if end < 0 {
		return len(p), nil
	}
	c.done = true
	out := make([]byte, 0, len(c.head))
	for i, line := range bytes.SplitAfter(c.head[:end+2], []byte("\r\n")) {
		switch {
		case len(line) == 0:
		case i == 0:
			_, status, _ := bytes.Cut(line, []byte(" ")) // "HTTP/1.1 200 OK\r\n"
			out = append(append(out, "Status: "...), status...)
		case hasName(line, "Connection"):
		default:
			out = append(out, line...)
		}
	}
	out = append(append(out, "\r\n"...), c.head[end+4:]...)
	c.head = nil
	if _, err := c.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// hasName reports whether the header line is a field called name.
func hasName(line []byte, name string) bool {
	n, _, ok := bytes.Cut(line, []byte(":"))
	return ok && strings.EqualFold(string(n), name)
}
