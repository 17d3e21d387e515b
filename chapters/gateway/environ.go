package gateway

import (
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Environ is what the application knows of a request: the CGI-style variables of PEP 3333 and the wsgi.*
// entries.
type Environ struct {
	// Vars holds REQUEST_METHOD, SCRIPT_NAME, PATH_INFO, QUERY_STRING, CONTENT_TYPE, CONTENT_LENGTH,
	// SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL and one HTTP_* variable per request header.
	Vars map[string]string

	URLScheme    string    // wsgi.url_scheme: "http"
	Input        io.Reader // wsgi.input: the request body
	Errors       io.Writer // wsgi.errors: where the app writes its error log
	MultiThread  bool      // wsgi.multithread: another thread of this process may run the app at the same time
	MultiProcess bool      // wsgi.multiprocess: another process may run the app at the same time
	RunOnce      bool      // wsgi.run_once: the app runs once in this process (CGI)
}

// Get returns the variable key, or "".
func (e *Environ) Get(key string) string { return e.Vars[key] }

// Map returns every variable and wsgi.* flag as strings, as the test application shows them at /env.
func (e *Environ) Map() map[string]string {
	m := make(map[string]string, len(e.Vars)+5)
	for k, v := range e.Vars {
		m[k] = v
	}
	m["wsgi.url_scheme"] = e.URLScheme
	m["wsgi.multithread"] = fmt.Sprint(e.MultiThread)
	m["wsgi.multiprocess"] = fmt.Sprint(e.MultiProcess)
	m["wsgi.run_once"] = fmt.Sprint(e.RunOnce)
	m["wsgi.version"] = "1.0"
	return m
}

// Keys returns the names of the variables, sorted.
func (e *Environ) Keys() []string {
	ks := make([]string, 0, len(e.Vars))
	for k := range e.Vars {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Server describes the server that builds an environ: its name and port as the app should see them, and
// whether other threads or processes may run the app at the same time.
type Server struct {
	Name         string // SERVER_NAME when the request has no Host: "127.0.0.1"
	Port         string // SERVER_PORT: "8080"
	MultiThread  bool
	MultiProcess bool
	Errors       io.Writer // wsgi.errors; io.Discard when nil
}

// TargetError reports a request-target the gateway cannot turn into a path: the server answers 400.
type TargetError struct {
	Target string
	Reason string
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("bad request-target %q: %s", e.Target, e.Reason)
}

// StatusCode returns 400: a bad target is the client's fault.
func (e *TargetError) StatusCode() int { return 400 }

// NewEnviron builds the environ of PEP 3333 for req. PATH_INFO is the percent-decoded path (SCRIPT_NAME is
// empty: the app is mounted at the root); QUERY_STRING is the raw query. Each request header becomes
// HTTP_NAME (upper case, dashes as underscores); repeated headers are joined with ", ", except that
// Content-Type and Content-Length become CONTENT_TYPE and CONTENT_LENGTH.
func NewEnviron(req *Request, srv Server) (*Environ, error) {
	path, query, err := splitTarget(req.Target)
	if err != nil {
		return nil, err
	}
	v := make(map[string]string, 10+len(req.Header)) // sized once: the environ is built for every request
	v["REQUEST_METHOD"] = req.Method
	v["SCRIPT_NAME"] = ""
	v["PATH_INFO"] = path
	v["QUERY_STRING"] = query
	v["SERVER_NAME"] = srv.Name
	v["SERVER_PORT"] = srv.Port
	v["SERVER_PROTOCOL"] = req.Proto
	v["CONTENT_TYPE"] = ""
	v["CONTENT_LENGTH"] = ""
	for _, h := range req.Header {
		key := environKey(h.Name)
		if old, ok := v[key]; ok && old != "" {
			v[key] = old + ", " + h.Value
		} else {
			v[key] = h.Value
		}
	}
	if req.ContentLength >= 0 {
		v["CONTENT_LENGTH"] = strconv.FormatInt(req.ContentLength, 10)
	} else {
		v["CONTENT_LENGTH"] = ""
	}
	if host := targetHost(req.Target); host != "" {
		v["SERVER_NAME"] = hostName(host) // RFC 9112 section 3.2.2: an absolute-form target's host wins over Host
	} else if host := v["HTTP_HOST"]; host != "" {
		v["SERVER_NAME"] = hostName(host)
	}
	errs := srv.Errors
	if errs == nil {
		errs = io.Discard
	}
	body := req.Body
	if body == nil {
		body = strings.NewReader("")
	}
	return &Environ{
		Vars:         v,
		URLScheme:    "http",
		Input:        body,
		Errors:       errs,
		MultiThread:  srv.MultiThread,
		MultiProcess: srv.MultiProcess,
	}, nil
}

// environKey returns the environ key of the header field name: HTTP_NAME, upper case, dashes as
// underscores, or CONTENT_TYPE and CONTENT_LENGTH. It builds the key in one allocation: it runs for every
// header of every request.
func environKey(name string) string {
	if strings.EqualFold(name, "Content-Type") {
		return "CONTENT_TYPE"
	}
	if strings.EqualFold(name, "Content-Length") {
		return "CONTENT_LENGTH"
	}
	var b strings.Builder
	b.Grow(len("HTTP_") + len(name))
	b.WriteString("HTTP_")
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '-':
			c = '_'
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// targetHost returns the host of an absolute-form request-target ("http://host:port/path"), or "".
func targetHost(target string) string {
	if strings.HasPrefix(target, "/") {
		return ""
	}
	u, err := url.Parse(target)
	if err != nil {
		return ""
	}
	return u.Host
}

// hostName returns the host of "host:port", "host", "[::1]:port" or "[::1]", without brackets or port.
func hostName(hostport string) string {
	if strings.HasPrefix(hostport, "[") {
		if i := strings.IndexByte(hostport, ']'); i > 0 {
			return hostport[1:i]
		}
		return hostport
	}
	name, _, _ := strings.Cut(hostport, ":")
	return name
}

// splitTarget splits an origin-form request-target ("/path?query") into the decoded path and the raw query.
// It also takes the absolute form ("http://host/path"), which RFC 9112 section 3.2.2 says servers must accept.
func splitTarget(target string) (path, query string, err error) {
	if target == "" {
		return "", "", &TargetError{target, "empty"}
	}
	raw := target
	if !strings.HasPrefix(raw, "/") {
		u, perr := url.Parse(raw)
		if perr != nil || u.Scheme == "" || u.Host == "" {
			return "", "", &TargetError{target, "not an origin-form path (it must start with /)"}
		}
		raw = u.EscapedPath()
		if raw == "" {
			raw = "/"
		}
		if u.RawQuery != "" {
			raw += "?" + u.RawQuery
		}
	}
	rawPath, query, _ := strings.Cut(raw, "?")
	path, perr := url.PathUnescape(rawPath)
	if perr != nil {
		return "", "", &TargetError{target, "bad percent-encoding in the path"}
	}
	return path, query, nil
}
