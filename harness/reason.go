package harness

// Reason returns the reason phrase of an HTTP status code as RFC 9110 section 15 names it ("Content Too Large"
// for 413, where older texts say "Request Entity Too Large"; 429 and 431 come from RFC 6585), or "" for a code
// it does not list. The
// harness keeps its own table, rather than ask the servers it tests: a report says what the RFC expects.
func Reason(code int) string { return reasons[code] }

var reasons = map[int]string{
	100: "Continue", 101: "Switching Protocols",
	200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
	301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified", 307: "Temporary Redirect",
	308: "Permanent Redirect",
	400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
	408: "Request Timeout", 411: "Length Required", 413: "Content Too Large", 414: "URI Too Long",
	417: "Expectation Failed", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
	500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
	504: "Gateway Timeout", 505: "HTTP Version Not Supported",
}
