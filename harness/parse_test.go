package harness

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

var validResponses = []struct {
	name string
	in   string
	head bool
	eof  bool // parse with ParseResponseEOF
	n    int  // bytes used; 0 means all of in
	want Response
}{
	{
		name: "content-length",
		in:   "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
		want: Response{Proto: "HTTP/1.1", Status: 200, Reason: "OK",
			Header: []Header{{"Content-Length", "5"}, {"Content-Type", "text/plain"}}, Body: []byte("hello")},
	},
	{
		name: "chunked with extensions and trailers",
		in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
			"5;name=value\r\nhello\r\n7 ; a ; b=\"q\\\"x\" ;c=d\r\n, world\r\n0\r\nX-Sum: abc\r\nX-More: 1\r\n\r\n",
		want: Response{Proto: "HTTP/1.1", Status: 200, Reason: "OK",
			Header: []Header{{"Transfer-Encoding", "chunked"}, {"Trailer", "X-Sum"}},
			Body:   []byte("hello, world"), Chunked: true,
			Trailer: []Header{{"X-Sum", "abc"}, {"X-More", "1"}}},
	},
	{
		name: "chunked, uppercase hex, no trailers",
		in:   "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
		want: Response{Proto: "HTTP/1.1", Status: 200, Reason: "OK",
			Header: []Header{{"transfer-encoding", "gzip, Chunked"}}, Body: []byte("0123456789"), Chunked: true},
	},
	{
		name: "HEAD with Content-Length",
		in:   "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n",
		head: true,
		want: Response{Proto: "HTTP/1.1", Status: 200, Reason: "OK", Header: []Header{{"Content-Length", "13"}}, Body: []byte{}},
	},
	{
		name: "HEAD with chunked",
		in:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		head: true,
		want: Response{Proto: "HTTP/1.1", Status: 200, Reason: "OK", Header: []Header{{"Transfer-Encoding", "chunked"}}, Body: []byte{}},
	},
	{
		name: "204 without framing",
		in:   "HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n",
		want: Response{Proto: "HTTP/1.1", Status: 204, Reason: "No Content", Header: []Header{{"X-A", "b"}}, Body: []byte{}},
	},
	{
		name: "304 with Content-Length",
		in:   "HTTP/1.1 304 Not Modified\r\nContent-Length: 20\r\n\r\n",
		want: Response{Proto: "HTTP/1.1", Status: 304, Reason: "Not Modified", Header: []Header{{"Content-Length", "20"}}, Body: []byte{}},
	},
	{
		name: "100 Continue before the final response",
		in:   "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		n:    len("HTTP/1.1 100 Continue\r\n\r\n"),
		want: Response{Proto: "HTTP/1.1", Status: 100, Reason: "Continue", Header: []Header{}, Body: []byte{}},
	},
	{
		name: "close-delimited with EOF",
		in:   "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\r\nworld",
		eof:  true,
		want: Response{Proto: "HTTP/1.0", Status: 200, Reason: "OK",
			Header: []Header{{"Content-Type", "text/plain"}}, Body: []byte("hello\r\nworld")},
	},
	{
		name: "empty reason, repeated equal Content-Length, OWS and obs-text in values",
		in:   "HTTP/1.1 200 \r\nContent-Length: 2\r\nContent-Length:2\r\nX-Name: \t caf\xc3\xa9 au lait \t\r\n\r\nhi",
		want: Response{Proto: "HTTP/1.1", Status: 200, Reason: "",
			Header: []Header{{"Content-Length", "2"}, {"Content-Length", "2"}, {"X-Name", "caf\xc3\xa9 au lait"}}, Body: []byte("hi")},
	},
	{
		name: "two pipelined responses: the first",
		in:   "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nb",
		n:    len("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"),
		want: Response{Proto: "HTTP/1.1", Status: 200, Reason: "OK", Header: []Header{{"Content-Length", "1"}}, Body: []byte("a")},
	},
}

func TestParseResponseValid(t *testing.T) {
	for _, tt := range validResponses {
		t.Run(tt.name, func(t *testing.T) {
			parse := ParseResponse
			if tt.eof {
				parse = ParseResponseEOF
			}
			r, n, err := parse([]byte(tt.in), tt.head)
			require.NoError(t, err)
			wantN := tt.n
			if wantN == 0 {
				wantN = len(tt.in)
			}
			require.Equal(t, wantN, n)
			want := tt.want
			want.Raw = []byte(tt.in[:wantN])
			if diff := cmp.Diff(&want, r); diff != "" {
				t.Errorf("response mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseResponsePipelined(t *testing.T) {
	b := []byte("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\n" +
		"HTTP/1.1 204 No Content\r\n\r\n")
	var statuses []int
	var bodies []string
	for len(b) > 0 {
		r, n, err := ParseResponse(b, false)
		require.NoError(t, err)
		statuses = append(statuses, r.Status)
		bodies = append(bodies, string(r.Body))
		b = b[n:]
	}
	require.Equal(t, []int{200, 200, 204}, statuses)
	require.Equal(t, []string{"a", "b", ""}, bodies)
}

// Every proper prefix of a valid response is incomplete, never invalid: a reader that gets the response
// in pieces must wait for more rather than fail.
func TestParseResponseIncompleteAtEveryPrefix(t *testing.T) {
	for _, tt := range validResponses {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.n
			if n == 0 {
				n = len(tt.in)
			}
			for i := range n {
				_, _, err := ParseResponse([]byte(tt.in[:i]), tt.head)
				var pe *ParseError
				require.ErrorAs(t, err, &pe, "prefix of %d bytes", i)
				require.True(t, pe.Incomplete, "prefix of %d bytes %q: %v", i, tt.in[:i], err)
				require.Equal(t, i, pe.Offset)
			}
		})
	}
}

func TestParseResponseEOFTooEarly(t *testing.T) {
	in := "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"
	_, _, err := ParseResponseEOF([]byte(in), false)
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	require.True(t, pe.Incomplete)
	require.Equal(t, "incomplete response (44 bytes): the connection closed too early: the body has 5 of 10 bytes (Content-Length: 10)", err.Error())

	_, _, err = ParseResponse([]byte("HTTP/1.1 200 OK\r\n\r\nall of it"), false)
	require.ErrorAs(t, err, &pe)
	require.True(t, pe.Incomplete, "a body delimited by close is incomplete until EOF")
}

func TestParseResponseInvalid(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		reason string
		offset int
	}{
		{"no status code", "HTTP/1.1 OK\r\n\r\n", "the status code is not 3 digits followed by a space", 9},
		{"HTTP/2", "HTTP/2 200 OK\r\n\r\n", "the status line does not start with HTTP/1.x", 0},
		{"lowercase version", "http/1.1 200 OK\r\n\r\n", "the status line does not start with HTTP/1.x", 0},
		{"not HTTP, unfinished", "hello", "the status line does not start with HTTP/1.x", 0},
		{"no space after the code", "HTTP/1.1 200\r\n\r\n", "no space after the status code (the reason phrase may be empty, the space may not)", 12},
		{"two spaces after the version", "HTTP/1.1  200 OK\r\n\r\n", "the status code is not 3 digits followed by a space", 9},
		{"four-digit code", "HTTP/1.1 2000 OK\r\n\r\n", "the status code is not 3 digits followed by a space", 9},
		{"code out of range", "HTTP/1.1 999 Odd\r\n\r\n", "status code 999 is not in 100-599", 9},
		{"empty line first", "\r\nHTTP/1.1 200 OK\r\n\r\n", "expected a status line, got an empty line (an extra CRLF after the previous response?)", 0},
		{"LF-only status line", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", "status line ends in a bare LF (HTTP lines end in CRLF)", 15},
		{"LF-only header line", "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", "header line ends in a bare LF (HTTP lines end in CRLF)", 34},
		{"bare CR in a header", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", "bare CR in header line (lines end in CRLF)", 23},
		{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", "whitespace before the colon in a header line", 31},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", "header line starts with whitespace (obs-fold line folding is not allowed)", 25},
		{"no colon", "HTTP/1.1 200 OK\r\nContent-Length\r\n\r\n", "header line has no colon", 17},
		{"space in name", "HTTP/1.1 200 OK\r\nContent Length: 0\r\n\r\n", "header name has an invalid character ' '", 24},
		{"empty name", "HTTP/1.1 200 OK\r\n: x\r\n\r\n", "empty header name", 17},
		{"control character in value", "HTTP/1.1 200 OK\r\nX-A: a\x01b\r\n\r\n", "control character '\\x01' in a header value", 23},
		{"CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "both Content-Length and Transfer-Encoding are set (a response has one framing)", 36},
		{"conflicting CL", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", "conflicting Content-Length values 5 and 6", 36},
		{"CL list", "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello", "Content-Length is not a decimal number", 17},
		{"negative CL", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length is not a decimal number", 17},
		{"huge CL", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", "Content-Length is too large", 17},
		{"chunked not last", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "chunked is not the last transfer coding", 17},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", "chunk size is not hexadecimal", 47},
		{"bad chunk size, unfinished", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nhello", "chunk size is not hexadecimal", 47},
		{"empty chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "chunk size is not hexadecimal", 47},
		{"negative chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "chunk size is not hexadecimal", 47},
		{"bad chunk extension", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;=x\r\nhello\r\n0\r\n\r\n", "invalid chunk extension", 49},
		{"space after chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", "invalid chunk extension", 49},
		{"missing CRLF after chunk data", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", "chunk 1: the chunk data is not followed by CRLF (the size line said 5 bytes)", 55},
		{"LF only after chunk data", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", "chunk 1: the chunk data is not followed by CRLF (the size line said 5 bytes)", 55},
		{"chunk longer than its size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", "chunk 1: the chunk data is not followed by CRLF (the size line said 3 bytes)", 53},
		{"bad trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-A : b\r\n\r\n", "whitespace before the colon in a trailer line", 53},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseResponse([]byte(tt.in), false)
			var pe *ParseError
			require.True(t, errors.As(err, &pe), "want a *ParseError, got %v", err)
			require.False(t, pe.Incomplete, "%v", err)
			require.Equal(t, tt.reason, pe.Reason)
			require.Equal(t, tt.offset, pe.Offset)
			require.NotEmpty(t, pe.Got)
		})
	}
}

func TestParseErrorMessage(t *testing.T) {
	_, _, err := ParseResponse([]byte("HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"), false)
	require.EqualError(t, err, `invalid response at byte 31: whitespace before the colon in a header line: "Content-Length : 0"`)
}

func TestResponseHeaderLookup(t *testing.T) {
	r, _, err := ParseResponse([]byte("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 0\r\n\r\n"), false)
	require.NoError(t, err)
	require.Equal(t, "1", r.Get("X-A"))
	require.Equal(t, "", r.Get("X-B"))
	require.Equal(t, []string{"1", "2"}, r.Values("x-A"))
	require.True(t, r.HasToken("connection", "close"))
	require.True(t, r.HasToken("Connection", "KEEP-ALIVE"))
	require.False(t, r.HasToken("Connection", "upgrade"))
}
