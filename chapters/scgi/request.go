package scgi

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

// WriteRequest sends the request env describes to w, as a front end does: a netstring of the variables of
// env.Vars, each name and value followed by a NUL byte, CONTENT_LENGTH first and SCGI=1 second (the
// protocol's two rules), the others sorted by name; then the body, from env.Input. The wsgi.* flags are not
// sent: they describe the daemon, which sets its own.
//
// SCGI needs the body's length before the body. A request sent chunked has none (CONTENT_LENGTH is empty), so
// WriteRequest reads its whole body first and sends the length it counted, as nginx does before it passes such
// a request to an SCGI daemon; the HTTP reader has already bounded the body (413). A body shorter than its
// CONTENT_LENGTH is an error, and so is a variable holding a NUL byte, which SCGI cannot carry (an *Error with
// status 400: a path such as /a%00b decodes to one).
//
// The daemon may answer before it reads the body. A caller that sends large bodies to daemons that may not
// read them should read the response while it writes, or the two sides can wait on each other.
func WriteRequest(w io.Writer, env *gateway.Environ) error {
	body := env.Input
	cl := env.Get("CONTENT_LENGTH")
	var length int64
	if cl == "" {
		b, err := io.ReadAll(body)
		if err != nil {
			return fmt.Errorf("scgi: reading the request body to count it: %w", err)
		}
		body, length = bytes.NewReader(b), int64(len(b))
	} else {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < 0 {
			return requestError(400, "CONTENT_LENGTH %q is not a number of bytes", cl)
		}
		length = n
	}
	head, err := appendVars(nil, env.Vars, length)
	if err != nil {
		return err
	}
	if _, err := w.Write(head); err != nil {
		return err
	}
	n, err := io.CopyN(w, body, length)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("scgi: the request body ended after %d of its %d bytes", n, length)
	}
	return err
}

// appendVars appends the netstring of the variables to b.
func appendVars(b []byte, vars map[string]string, length int64) ([]byte, error) {
	names := make([]string, 0, len(vars))
	size := 0
	for name, value := range vars {
		if name == "CONTENT_LENGTH" || name == "SCGI" {
			continue // written first, by the protocol's rules
		}
		if name == "" || strings.IndexByte(name, 0) >= 0 || strings.IndexByte(value, 0) >= 0 {
			return nil, requestError(400, "variable %q holds a NUL byte or is unnamed, which SCGI cannot carry", name)
		}
		names = append(names, name)
		size += len(name) + len(value) + 2
	}
	slices.Sort(names) // the same request gives the same bytes, which tests can compare
	cl := strconv.FormatInt(length, 10)
	size += len("CONTENT_LENGTH") + len(cl) + len("SCGI") + len("1") + 4

	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, ':')
	b = appendPair(b, "CONTENT_LENGTH", cl)
	b = appendPair(b, "SCGI", "1")
	for _, name := range names {
		b = appendPair(b, name, vars[name])
	}
	return append(b, ','), nil
}

func appendPair(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, 0)
	b = append(b, value...)
	return append(b, 0)
}

// Request is an SCGI request as a daemon reads it.
type Request struct {
	// Vars holds the CGI variables as the front end sent them, SCGI excluded. CONTENT_LENGTH is always there.
	Vars map[string]string
	// Body yields the request body: ContentLength bytes, then io.EOF. A connection that closes before the
	// end is an *Error.
	Body          io.Reader
	ContentLength int64
}

// ReadRequest reads a request's variables from br and sets up its body, which the caller reads from
// req.Body. It returns io.EOF when the connection closed before a request started, an *Error (400, 413 or
// 431) for a request that breaks the protocol or lim, and other errors (timeouts, resets) as they come from
// br.
func ReadRequest(br *bufio.Reader, lim Limits) (*Request, error) {
	n, err := readLength(br, lim.MaxHeader)
	if err != nil {
		return nil, err
	}
	block := make([]byte, n+1) // the variables and the netstring's closing comma
	if got, err := io.ReadFull(br, block); err != nil {
		switch {
		case !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
			return nil, err
		case got == n:
			return nil, requestError(400, "connection closed before the comma that ends the netstring")
		}
		return nil, requestError(400, "connection closed after %d of the %d bytes of the variables", got, n)
	}
	if c := block[n]; c != ',' {
		return nil, requestError(400, "the netstring of %d bytes of variables ends in %q, not a comma", n, c)
	}
	vars, length, err := parseVars(block[:n], lim)
	if err != nil {
		return nil, err
	}
	return &Request{Vars: vars, Body: &bodyReader{r: br, n: length}, ContentLength: length}, nil
}

// readLength reads the length of a netstring, the decimal digits before its colon, which may not exceed max.
func readLength(br *bufio.Reader, max int) (int, error) {
	n, digits := 0, 0
	for {
		c, err := br.ReadByte()
		switch {
		case errors.Is(err, io.EOF) && digits == 0:
			return 0, io.EOF // closed before a request: the end of a connection, not an error
		case errors.Is(err, io.EOF):
			return 0, requestError(400, "connection closed in the netstring's length")
		case err != nil:
			return 0, err
		case c == ':' && digits > 0:
			return n, nil
		case c < '0' || c > '9':
			return 0, requestError(400, "a request must start with a netstring's length and a colon, as 70:, not %q", c)
		case digits == 1 && n == 0:
			return 0, requestError(400, "the netstring's length has a leading zero")
		}
		n = n*10 + int(c-'0')
		digits++
		if n > max {
			return 0, requestError(431, "the variables are longer than %d bytes", max)
		}
	}
}

// parseVars splits the netstring's bytes into variables, name NUL value NUL each (protocol.txt section 3), and
// checks the protocol's rules: CONTENT_LENGTH first and a number, SCGI=1, no name twice.
func parseVars(b []byte, lim Limits) (map[string]string, int64, error) {
	if len(b) == 0 || b[len(b)-1] != 0 {
		return nil, 0, requestError(400, "the variables do not end in a NUL byte")
	}
	fields := bytes.Split(b[:len(b)-1], []byte{0})
	if len(fields)%2 != 0 {
		return nil, 0, requestError(400,
			"the variables hold a name without a value (an odd number of NUL-terminated strings)")
	}
	vars := make(map[string]string, len(fields)/2)
	for i := 0; i < len(fields); i += 2 {
		name, value := string(fields[i]), string(fields[i+1])
		switch _, dup := vars[name]; {
		case name == "":
			return nil, 0, requestError(400, "a variable has an empty name")
		case i == 0 && name != "CONTENT_LENGTH":
			return nil, 0, requestError(400, "the first variable is %q; it must be CONTENT_LENGTH", name)
		case dup:
			return nil, 0, requestError(400, "variable %q is sent twice", name)
		}
		vars[name] = value
	}
	cl := vars["CONTENT_LENGTH"]
	if cl == "" || len(cl) > 18 || strings.Trim(cl, "0123456789") != "" {
		return nil, 0, requestError(400, "CONTENT_LENGTH %q is not a number of bytes", cl)
	}
	length, _ := strconv.ParseInt(cl, 10, 64)
	vars["CONTENT_LENGTH"] = strconv.FormatInt(length, 10) // "007" is 7 bytes, and the app sees "7"
	if length > lim.MaxBody {
		return nil, 0, requestError(413, "a body of %d bytes is over the limit of %d", length, lim.MaxBody)
	}
	switch v, ok := vars["SCGI"]; {
	case !ok:
		return nil, 0, requestError(400, "no SCGI variable (the protocol requires SCGI=1)")
	case v != "1":
		return nil, 0, requestError(400, "SCGI is %q; this daemon speaks SCGI 1", v)
	}
	delete(vars, "SCGI") // the protocol's, not the application's
	return vars, length, nil
}

// bodyReader reads exactly n bytes of body; a connection that closes early is a bad request.
type bodyReader struct {
	r io.Reader
	n int64
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	if errors.Is(err, io.EOF) && b.n > 0 {
		return n, requestError(400, "connection closed with %d bytes of the body still to come", b.n)
	}
	if err == nil && b.n == 0 {
		err = io.EOF
	}
	return n, err
}

// Environ returns the environ the application sees: the variables as the front end sent them (it built them
// with gateway.NewEnviron, so they are what the application would see in the front end's process), the body
// as wsgi.input, and what only the daemon knows from srv: whether other threads (MultiThread) or processes
// (MultiProcess) of it run the application at the same time, and where errors go. srv.Name and srv.Port are
// not used: SERVER_NAME and SERVER_PORT came with the request.
func (r *Request) Environ(srv gateway.Server) *gateway.Environ {
	errs := srv.Errors
	if errs == nil {
		errs = io.Discard
	}
	scheme := "http"
	if v := strings.ToLower(r.Vars["HTTPS"]); v == "on" || v == "1" || v == "yes" {
		scheme = "https" // as Python's wsgiref.util.guess_scheme decides
	}
	return &gateway.Environ{
		Vars:         r.Vars,
		URLScheme:    scheme,
		Input:        r.Body,
		Errors:       errs,
		MultiThread:  srv.MultiThread,
		MultiProcess: srv.MultiProcess,
	}
}
