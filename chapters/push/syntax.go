package push

import (
	"bytes"
	"strconv"
	"strings"

	"course/chapters/gateway"
)

// The rules below are those of chapters/http1/request.go, which cannot be shared without importing package
// net through http1. TestSameAsReadRequest and FuzzSameAsReadRequest check that the two parsers agree.

// parseRequestLine parses "METHOD SP request-target SP HTTP-version" (RFC 9112 section 3).
func parseRequestLine(line string) (*gateway.Request, error) {
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || strings.Contains(proto, " ") {
		return nil, errorf(400, "malformed request line %q (want METHOD SP target SP HTTP/1.1)", clip(line))
	}
	if !gateway.IsToken(method) {
		return nil, errorf(400, "bad method %q", clip(method))
	}
	if target == "" || !isVisible(target) {
		return nil, errorf(400, "bad request-target %q", clip(target))
	}
	major, minor, ok := parseVersion(proto)
	if !ok {
		return nil, errorf(400, "bad HTTP version %q", clip(proto))
	}
	if major != 1 {
		return nil, errorf(505, "HTTP version %q is not supported (only HTTP/1.0 and HTTP/1.1)", proto)
	}
	return &gateway.Request{Method: method, Target: target, Proto: proto, Major: major, Minor: minor}, nil
}

// parseVersion parses "HTTP/x.y" with single digits (RFC 9112 section 2.3).
func parseVersion(s string) (major, minor int, ok bool) {
	if len(s) != 8 || !strings.HasPrefix(s, "HTTP/") || s[6] != '.' || !isDigit(s[5]) || !isDigit(s[7]) {
		return 0, 0, false
	}
	return int(s[5] - '0'), int(s[7] - '0'), true
}

// parseField parses "name: value" (RFC 9112 section 5): no whitespace before the colon, optional whitespace
// around the value, no line folding.
func parseField(line []byte) (gateway.Header, error) {
	if line[0] == ' ' || line[0] == '\t' {
		return gateway.Header{}, errorf(400, "obsolete line folding in the headers (a line starting with whitespace)")
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return gateway.Header{}, errorf(400, "header line without a colon: %q", clip(string(line)))
	}
	if !gateway.IsToken(string(name)) {
		if n := len(name); n > 0 && (name[n-1] == ' ' || name[n-1] == '\t') {
			return gateway.Header{}, errorf(400, "whitespace between the header name %q and the colon", clip(string(name)))
		}
		return gateway.Header{}, errorf(400, "bad header name %q", clip(string(name)))
	}
	value = bytes.Trim(value, " \t")
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return gateway.Header{}, errorf(400, "control character in the value of header %q", name)
		}
	}
	return gateway.Header{Name: string(name), Value: string(value)}, nil
}

// checkHost applies RFC 9112 section 3.2: an HTTP/1.1 request has exactly one Host header.
func checkHost(req *gateway.Request) error {
	switch n := len(req.Values("Host")); {
	case n == 0 && req.Minor >= 1:
		return errorf(400, "HTTP/1.1 request without a Host header")
	case n > 1:
		return errorf(400, "%d Host headers (there must be one)", n)
	}
	return nil
}

// parseContentLength accepts one length, or several that agree (RFC 9110 section 8.6); anything else is a
// smuggling risk and refused.
func parseContentLength(values []string) (int64, error) {
	n := int64(-1)
	for _, v := range values {
		for s := range strings.SplitSeq(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" || len(s) > 18 || strings.TrimLeft(s, "0123456789") != "" {
				return 0, errorf(400, "bad Content-Length %q", clip(s))
			}
			m, _ := strconv.ParseInt(s, 10, 64)
			if n >= 0 && m != n {
				return 0, errorf(400, "different Content-Length values %d and %d (request smuggling?)", n, m)
			}
			n = m
		}
	}
	return n, nil
}

// parseChunkSize parses a chunk-size line (RFC 9112 section 7.1): hex digits, then extensions, which are
// allowed and ignored.
func parseChunkSize(line []byte) (int64, error) {
	size, _, _ := bytes.Cut(line, []byte(";"))
	size = bytes.TrimRight(size, " \t")
	n, err := strconv.ParseInt(string(size), 16, 64)
	if err != nil || n < 0 || len(size) > 15 || len(size) == 0 || bytes.ContainsAny(size, "+-xX") {
		return 0, errorf(400, "bad chunk size %q", clip(string(line)))
	}
	return n, nil
}

// isVisible reports whether s is made of visible ASCII characters only.
func isVisible(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
