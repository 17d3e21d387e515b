package push_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"course/chapters/gateway"
	"course/chapters/http1"
	"course/chapters/push"
)

// limits are those of http1's tests: the default ones with a 16-byte body cap.
var limits = func() http1.Limits {
	lim := http1.DefaultLimits
	lim.MaxBody = 16
	return lim
}()

// hdr builds a header list from name, value pairs.
func hdr(kv ...string) []gateway.Header {
	var hs []gateway.Header
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, gateway.Header{Name: kv[i], Value: kv[i+1]})
	}
	return hs
}

// validCases mirror TestReadRequestValid in chapters/http1.
var validCases = []struct {
	name string
	raw  string
	want message
}{
	{"simple get", "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
		message{"GET", "/hello", "HTTP/1.1", 1, 1, hdr("Host", "x"), 0, ""}},
	{"leading empty lines", "\r\n\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		message{"GET", "/", "HTTP/1.1", 1, 1, hdr("Host", "x"), 0, ""}},
	{"bare LF line endings", "GET / HTTP/1.1\nHost: x\n\n",
		message{"GET", "/", "HTTP/1.1", 1, 1, hdr("Host", "x"), 0, ""}},
	{"OWS trimmed, case kept", "GET / HTTP/1.1\r\nhOsT:   x \t\r\nX-A:\t1\r\n\r\n",
		message{"GET", "/", "HTTP/1.1", 1, 1, hdr("hOsT", "x", "X-A", "1"), 0, ""}},
	{"empty header value", "GET / HTTP/1.1\r\nHost: x\r\nX-E:\r\n\r\n",
		message{"GET", "/", "HTTP/1.1", 1, 1, hdr("Host", "x", "X-E", ""), 0, ""}},
	{"HTTP/1.0 without Host", "GET /a HTTP/1.0\r\n\r\n",
		message{"GET", "/a", "HTTP/1.0", 1, 0, nil, 0, ""}},
	{"content-length body", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab\r\nc",
		message{"POST", "/echo", "HTTP/1.1", 1, 1, hdr("Host", "x", "Content-Length", "5"), 5, "ab\r\nc"}},
	{"equal content-lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nab",
		message{"POST", "/", "HTTP/1.1", 1, 1, hdr("Host", "x", "Content-Length", "2, 2", "Content-Length", "2"), 2, "ab"}},
	{"chunked with extensions and trailers", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"3;a=b\r\nabc\r\nA ; x\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n",
		message{"POST", "/", "HTTP/1.1", 1, 1, hdr("Host", "x", "Transfer-Encoding", "chunked"), -1, "abc0123456789"}},
	{"chunked, bare LFs", "POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n2\nab\n0\n\n",
		message{"POST", "/", "HTTP/1.1", 1, 1, hdr("Host", "x", "Transfer-Encoding", "chunked"), -1, "ab"}},
	{"chunked, case-insensitive coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
		message{"POST", "/", "HTTP/1.1", 1, 1, hdr("Host", "x", "Transfer-Encoding", "Chunked"), -1, "z"}},
	{"chunked, empty body", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		message{"POST", "/", "HTTP/1.1", 1, 1, hdr("Host", "x", "Transfer-Encoding", "chunked"), -1, ""}},
	{"absolute-form target", "GET http://x/a?b HTTP/1.1\r\nHost: x\r\n\r\n",
		message{"GET", "http://x/a?b", "HTTP/1.1", 1, 1, hdr("Host", "x"), 0, ""}},
	{"body at the cap", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n0123456789abcdef",
		message{"POST", "/", "HTTP/1.1", 1, 1, hdr("Host", "x", "Content-Length", "16"), 16, "0123456789abcdef"}},
}

var (
	long = strings.Repeat("a", 9000)
	many = strings.Repeat("X-A: 1\r\n", 101)
	big  = strings.Repeat("X-Big: "+strings.Repeat("b", 1000)+"\r\n", 9)
)

// chunkedHead starts a request with a chunked body.
const chunkedHead = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

// refusedCases mirror TestReadRequestRefused and TestChunkedBodyRefused in chapters/http1.
var refusedCases = []struct {
	name string
	raw  string
	code int
}{
	{"no spaces", "GET\r\n\r\n", 400},
	{"extra space", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
	{"bad version", "GET / HTTP/1.x\r\nHost: x\r\n\r\n", 400},
	{"lowercase version", "GET / http/1.1\r\nHost: x\r\n\r\n", 400},
	{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
	{"bad method", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
	{"control char in target", "GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
	{"four empty lines", "\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
	{"no host in 1.1", "GET / HTTP/1.1\r\n\r\n", 400},
	{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
	{"header without colon", "GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400},
	{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  2\r\n\r\n", 400},
	{"NUL in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400},
	{"request line too long", "GET /" + long + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
	{"request line too long, cut", "GET /" + long, 414},
	{"too many fields", "GET / HTTP/1.1\r\nHost: x\r\n" + many + "\r\n", 431},
	{"header section too large", "GET / HTTP/1.1\r\nHost: x\r\n" + big + "\r\n", 431},
	{"one huge header line", "GET / HTTP/1.1\r\nHost: x\r\nX-A: " + long + "\r\n\r\n", 431},
	{"body over cap by length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n", 413},
	{"unknown coding, not chunked last", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
	{"chunked then gzip", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
	{"gzip then chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
	{"chunked twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
	{"te and cl", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
	{"two content-lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
	{"list of content-lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\nab", 400},
	{"negative content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
	{"plus content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na", 400},
	{"te in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
	{"eof in head", "GET / HTTP/1.1\r\nHost: x\r\n", 400},
	{"eof in request line", "GET / HT", 400},
	{"eof in body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab", 400},
	{"chunk: bad size", chunkedHead + "zz\r\nab\r\n0\r\n\r\n", 400},
	{"chunk: hex prefix", chunkedHead + "0x2\r\nab\r\n0\r\n\r\n", 400},
	{"chunk: negative size", chunkedHead + "-2\r\nab\r\n0\r\n\r\n", 400},
	{"chunk: data longer than size", chunkedHead + "2\r\nabc\r\n0\r\n\r\n", 400},
	{"chunk: CR without LF", chunkedHead + "2\r\nab\rX0\r\n\r\n", 400},
	{"chunk: over the cap", chunkedHead + "11\r\n" + strings.Repeat("a", 17) + "\r\n0\r\n\r\n", 413},
	{"chunk: over the cap in two chunks", chunkedHead + "9\r\n123456789\r\n9\r\n123456789\r\n0\r\n\r\n", 413},
	{"chunk: size line too long", chunkedHead + "1;" + strings.Repeat("e", 5000) + "\r\na\r\n0\r\n\r\n", 400},
	{"chunk: eof in chunk", chunkedHead + "5\r\nab", 400},
	{"chunk: eof after data", chunkedHead + "2\r\nab", 400},
	{"chunk: eof before last chunk", chunkedHead + "2\r\nab\r\n", 400},
	{"chunk: eof in trailers", chunkedHead + "0\r\nX-T: 1\r\n", 400},
	{"chunk: bad trailer", chunkedHead + "0\r\nBad Trailer\r\n\r\n", 400},
	{"chunk: too many trailers", chunkedHead + "0\r\n" + many + "\r\n", 431},
}

// pipelined is three requests sent at once, as in http1's TestPipelined.
const pipelined = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
	"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n" +
	"GET /c HTTP/1.1\r\nHost: x\r\n\r\n"

func TestFeedValid(t *testing.T) {
	for _, tt := range validCases {
		for _, sp := range splitters {
			t.Run(tt.name+"/"+sp.name, func(t *testing.T) {
				got := pushed(tt.raw, limits, sp.split(len(tt.raw)))
				want := outcome{Messages: []message{tt.want}}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%q (-want +got):\n%s", tt.raw, diff)
				}
			})
		}
	}
}

func TestFeedRefused(t *testing.T) {
	for _, tt := range refusedCases {
		for _, sp := range splitters {
			t.Run(tt.name+"/"+sp.name, func(t *testing.T) {
				got := pushed(tt.raw, limits, sp.split(len(tt.raw)))
				require.Equal(t, tt.code, got.Code, "%q: %s", clip(tt.raw), got.Reason)
			})
		}
	}
}

func TestPipelined(t *testing.T) {
	want := []string{"/a abc", "/b de", "/c "}
	for _, sp := range splitters {
		t.Run(sp.name, func(t *testing.T) {
			got := pushed(pipelined, http1.DefaultLimits, sp.split(len(pipelined)))
			require.Zero(t, got.Code, got.Reason)
			var summary []string
			for _, m := range got.Messages {
				summary = append(summary, m.Target+" "+m.Body)
			}
			require.Equal(t, want, summary)
		})
	}
}

// TestEvents checks the events Feed reports for input given whole, and the bytes it uses for each.
func TestEvents(t *testing.T) {
	type step struct {
		Used  int
		Event push.Event
	}
	tests := []struct {
		name string
		raw  string
		want []step
	}{
		{"no body: End right after Head, using nothing", "GET / HTTP/1.0\r\n\r\n",
			[]step{{18, push.Head}, {0, push.End}, {0, push.NeedMore}}},
		{"a body", "POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
			[]step{{38, push.Head}, {3, push.Data}, {0, push.End}, {0, push.NeedMore}}},
		{"a partial body", "POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nab",
			[]step{{38, push.Head}, {2, push.Data}, {0, push.NeedMore}}},
		{"chunks: one Data each, End with the last line", chunkedHead + "1\r\na\r\n2;x\r\nbc\r\n0\r\n\r\n",
			[]step{{56, push.Head}, {4, push.Data}, {9, push.Data}, {7, push.End}, {0, push.NeedMore}}},
		{"stops at the end of a request", "GET / HTTP/1.0\r\n\r\nGET /",
			[]step{{18, push.Head}, {0, push.End}, {5, push.NeedMore}}},
		{"an incomplete head", "GET / HTTP/1.1\r\nHo",
			[]step{{18, push.NeedMore}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := push.NewParser(http1.DefaultLimits)
			b := []byte(tt.raw)
			var got []step
			for {
				n, ev, err := p.Feed(b)
				require.NoError(t, err)
				b = b[n:]
				got = append(got, step{n, ev})
				if ev == push.NeedMore {
					break
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			require.Empty(t, b, "bytes left after NeedMore")
		})
	}
}

func TestEOF(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		code int // 0: a clean end
	}{
		{"nothing", "", 0},
		{"empty lines only", "\r\n\r\n", 0},
		{"a half line ending", "\r", 400},
		{"between requests", "GET / HTTP/1.0\r\n\r\n", 0},
		{"in the request line", "GET /", 400},
		{"in the headers", "GET / HTTP/1.0\r\n", 400},
		{"in a body", "POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nab", 400},
		{"after a whole body", "POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", 0},
		{"at a chunk size", chunkedHead, 400},
		{"in a chunk", chunkedHead + "3\r\nab", 400},
		{"at a chunk's CRLF", chunkedHead + "3\r\nabc\r", 400},
		{"in the trailers", chunkedHead + "0\r\n", 400},
		{"after the trailers", chunkedHead + "0\r\n\r\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pushed(tt.raw, http1.DefaultLimits, []int{len(tt.raw)})
			require.Equal(t, tt.code, got.Code, got.Reason)
		})
	}
}

// TestErrorSticks checks that a parser that refused a request refuses everything after.
func TestErrorSticks(t *testing.T) {
	p := push.NewParser(http1.DefaultLimits)
	_, _, err := p.Feed([]byte("BAD\r\n"))
	require.Error(t, err)
	require.Equal(t, 400, gateway.StatusOf(err))
	n, _, again := p.Feed([]byte("GET / HTTP/1.0\r\n\r\n"))
	require.Zero(t, n)
	require.Equal(t, err, again)
	require.Equal(t, err, p.EOF())
}

func TestEventString(t *testing.T) {
	var got []string
	for _, ev := range []push.Event{push.NeedMore, push.Head, push.Data, push.End, 9} {
		got = append(got, ev.String())
	}
	require.Equal(t, []string{"NeedMore", "Head", "Data", "End", "Event(9)"}, got)
}

// TestNoNet checks that the parser does not import package net, through http1 or otherwise: the event-driven
// server of chapter 3 does its socket I/O itself.
func TestNoNet(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the imports with")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	require.NoError(t, err, "go list -deps")
	require.NotContains(t, strings.Fields(string(out)), "net")
}

// BenchmarkFeed measures the parser on a typical small request, fed whole.
func BenchmarkFeed(b *testing.B) {
	raw := []byte("GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: load\r\nAccept: */*\r\n\r\n")
	p := push.NewParser(http1.DefaultLimits)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		in := raw
		for {
			n, ev, err := p.Feed(in)
			if err != nil {
				b.Fatal(err)
			}
			in = in[n:]
			if ev == push.NeedMore {
				break
			}
		}
	}
}
