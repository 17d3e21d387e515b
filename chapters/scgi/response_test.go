package scgi_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"course/chapters/app"
	"course/chapters/gateway"
	"course/chapters/scgi"
)

// h builds header fields from "Name: value" strings.
func h(lines ...string) []gateway.Header {
	var hs []gateway.Header
	for _, l := range lines {
		name, value, _ := strings.Cut(l, ": ")
		hs = append(hs, gateway.Header{Name: name, Value: value})
	}
	return hs
}

func readResponse(raw string, lim scgi.Limits) (*scgi.Response, string, error) {
	res, err := scgi.ReadResponse(bufio.NewReader(strings.NewReader(raw)), lim)
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(res.Body)
	return res, string(body), err
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name       string
		raw        string
		wantStatus string
		wantHeader []gateway.Header
		wantBody   string
	}{
		{
			name:       "CGI, as wsgiref writes it",
			raw:        "Status: 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nnope\n",
			wantStatus: "404 Not Found", wantHeader: h("Content-Type: text/plain", "Content-Length: 5"), wantBody: "nope\n",
		},
		{
			name:       "the body is everything until the close",
			raw:        "Status: 200 OK\r\n\r\nStatus: 500 not a header\r\n\r\nmore",
			wantStatus: "200 OK", wantBody: "Status: 500 not a header\r\n\r\nmore",
		},
		{
			name:       "lines ending in a bare LF",
			raw:        "Status: 201 Created\nContent-Type: text/plain\n\nmade",
			wantStatus: "201 Created", wantHeader: h("Content-Type: text/plain"), wantBody: "made",
		},
		{
			name:       "no Status: 200",
			raw:        "Content-Type: text/html\r\n\r\n<p>hi</p>",
			wantStatus: "200 OK", wantHeader: h("Content-Type: text/html"), wantBody: "<p>hi</p>",
		},
		{
			name:       "no header at all: 200",
			raw:        "\r\nbody",
			wantStatus: "200 OK", wantBody: "body",
		},
		{
			name:       "a Location without Status: a client redirect, 302",
			raw:        "Location: http://example.com/new\r\n\r\n",
			wantStatus: "302 Found", wantHeader: h("Location: http://example.com/new"),
		},
		{
			name:       "a local Location without Status: 302 too",
			raw:        "Location: /new\r\n\r\n",
			wantStatus: "302 Found", wantHeader: h("Location: /new"),
		},
		{
			name:       "a Location with a Status keeps the Status",
			raw:        "Location: /new\r\nStatus: 301 Moved Permanently\r\nContent-Type: text/plain\r\n\r\nmoved",
			wantStatus: "301 Moved Permanently", wantHeader: h("Location: /new", "Content-Type: text/plain"), wantBody: "moved",
		},
		{
			name:       "a Status without reason gets the usual one",
			raw:        "Status: 404\r\n\r\n",
			wantStatus: "404 Not Found",
		},
		{
			name:       "a Status with spaces around",
			raw:        "status:   418   I'm a teapot  \r\n\r\n",
			wantStatus: "418 I'm a teapot",
		},
		{
			name: "an HTTP status line, as gateway.Respond writes; Connection is the hop's and goes",
			raw: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n" +
				"Content-Length: 2\r\nConnection: close\r\n\r\nok",
			wantStatus: "200 OK",
			wantHeader: h("Content-Type: text/plain", "Date: Thu, 01 Jan 2026 00:00:00 GMT", "Content-Length: 2"),
			wantBody:   "ok",
		},
		{
			name:       "an HTTP/1.0 status line",
			raw:        "HTTP/1.0 503 Service Unavailable\r\nKeep-Alive: timeout=5\r\n\r\nbusy",
			wantStatus: "503 Service Unavailable", wantBody: "busy",
		},
		{
			name:       "fields of empty value count as not sent; repeated fields are kept",
			raw:        "Status: 200 OK\r\nX-Empty:\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n",
			wantStatus: "200 OK", wantHeader: h("Set-Cookie: a=1", "Set-Cookie: b=2"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body, err := readResponse(tt.raw, scgi.DefaultLimits)
			require.NoError(t, err)
			require.Equal(t, tt.wantStatus, res.Status)
			require.Equal(t, tt.wantStatus[:3], strconv.Itoa(res.Code))
			require.Equal(t, tt.wantHeader, res.Header)
			require.Equal(t, tt.wantBody, body)
		})
	}
}

func TestReadResponseRefused(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantErr string
	}{
		{"nothing: the daemon died", "", "the daemon closed the connection without answering"},
		{"cut in the head", "Status: 200 OK\r\nContent-Type: te", "closed the connection in the middle of its header section"},
		{"no blank line", "Status: 200 OK\r\n", "in the middle of its header section"},
		{"a chunked body", "Status: 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "Transfer-Encoding: chunked (the body of an SCGI response is sent as it is"},
		{"two Status fields", "Status: 200 OK\r\nStatus: 404 Not Found\r\n\r\n", `the status is given twice (a second one is "404 Not Found")`},
		{"a status line and a Status", "HTTP/1.1 200 OK\r\nStatus: 404 Not Found\r\n\r\n", "the status is given twice"},
		{"two Locations", "Location: /a\r\nLocation: /b\r\n\r\n", "Location is given twice"},
		{"a bad Status", "Status: OK\r\n\r\n", `bad status "OK" (want a code from 200 to 599`},
		{"an interim Status", "Status: 100 Continue\r\n\r\n", `bad status "100 Continue"`},
		{"a bad status line", "HTTP/2 200 OK\r\n\r\n", `bad status line "HTTP/2 200 OK"`},
		{"a bad Content-Length", "Status: 200 OK\r\nContent-Length: -1\r\n\r\n", `Content-Length "-1" is not a number of bytes`},
		{"a line without a colon", "Status: 200 OK\r\nnonsense\r\n\r\n", `header line without a colon: "nonsense"`},
		{"a folded line", "Status: 200 OK\r\nX-A: 1\r\n 2\r\n\r\n", "obsolete line folding"},
		{"a status line later on", "Content-Type: text/plain\r\nHTTP/1.1 200 OK\r\n\r\n", "header line without a colon"},
		{"a head over the limit", "Status: 200 OK\r\nX-Long: " + strings.Repeat("a", 100) + "\r\n\r\n", "the header section is longer than 64 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readResponse(tt.raw, scgi.Limits{MaxHeader: 64})
			var se *scgi.Error
			require.True(t, errors.As(err, &se), "want an *scgi.Error, got %v", err)
			require.Equal(t, 502, se.Code)
			require.Contains(t, se.Reason, tt.wantErr)
			require.Contains(t, err.Error(), "scgi: bad response from the daemon: ")
		})
	}
}

// TestReadResponseLongLine checks a head line longer than bufio's buffer, which arrives in pieces.
func TestReadResponseLongLine(t *testing.T) {
	long := strings.Repeat("v", 10000)
	res, _, err := readResponse("Status: 200 OK\r\nX-Long: "+long+"\r\n\r\n", scgi.DefaultLimits)
	require.NoError(t, err)
	require.Equal(t, h("X-Long: "+long), res.Header)
}

// daemonRoundTrip sends one request to a in-memory daemon running the test app (ReadRequest, Environ,
// Respond), and reads the response as a front end does.
func daemonRoundTrip(t *testing.T, a gateway.App, method, target, body string) (*scgi.Response, string) {
	t.Helper()
	path, query, _ := strings.Cut(target, "?")
	env := environ(strings.NewReader(body), "REQUEST_METHOD", method, "PATH_INFO", path, "QUERY_STRING", query,
		"CONTENT_LENGTH", strconv.Itoa(len(body)), "SERVER_PROTOCOL", "HTTP/1.1")
	var wire bytes.Buffer
	require.NoError(t, scgi.WriteRequest(&wire, env))

	rest := bufio.NewReader(&wire)
	req, err := scgi.ReadRequest(rest, scgi.DefaultLimits)
	require.NoError(t, err)
	var out bytes.Buffer
	_, err = scgi.Respond(&out, req.Environ(gateway.Server{MultiThread: true}), a)
	require.NoError(t, err)
	require.Zero(t, rest.Buffered()+wire.Len(), "Respond reads the body the app left")

	res, resBody, err := readResponse(out.String(), scgi.DefaultLimits)
	require.NoError(t, err, "response %q", out.String())
	return res, resBody
}

func TestRespond(t *testing.T) {
	a := app.New(app.Options{Worker: "3"})
	get := func(res *scgi.Response, name string) string {
		for _, f := range res.Header {
			if strings.EqualFold(f.Name, name) {
				return f.Value
			}
		}
		return ""
	}
	tests := []struct {
		method, target, body string
		wantStatus           string
		wantLength           string // Content-Length, "" when the body ends with the connection
		wantBody             string
	}{
		{"GET", "/hello", "", "200 OK", "14", "Hello, World!\n"},
		{"HEAD", "/hello", "", "200 OK", "14", ""},
		{"POST", "/echo", "ping", "200 OK", "4", "ping"},
		{"GET", "/stream?chunks=3&bytes=2", "", "200 OK", "", "abcdef"},
		{"GET", "/big?bytes=3", "", "200 OK", "3", "abc"},
		{"GET", "/error", "", "500 Internal Server Error", "26", "500 Internal Server Error\n"},
		{"GET", "/panic", "", "500 Internal Server Error", "26", "500 Internal Server Error\n"},
		{"POST", "/hello", "unread", "405 Method Not Allowed", "", "405 method POST not allowed on /hello (allowed: GET, HEAD)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			res, body := daemonRoundTrip(t, a, tt.method, tt.target, tt.body)
			require.Equal(t, tt.wantStatus, res.Status)
			if tt.wantLength != "" {
				require.Equal(t, tt.wantLength, get(res, "Content-Length"))
			}
			require.Equal(t, tt.wantBody, body)
			require.Empty(t, get(res, "Connection"), "the daemon's Connection: close is not passed on")
		})
	}
}

func TestRefuse(t *testing.T) {
	_, err := scgi.ReadRequest(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\n")), scgi.DefaultLimits)
	var out bytes.Buffer
	require.NoError(t, scgi.Refuse(&out, err))
	res, body, err := readResponse(out.String(), scgi.DefaultLimits)
	require.NoError(t, err)
	require.Equal(t, "400 Bad Request", res.Status)
	require.Equal(t, "400 Bad Request: a request must start with a netstring's length and a colon, as 70:, not 'G'\n", body)

	out.Reset()
	require.NoError(t, scgi.Refuse(&out, io.EOF))
	require.NoError(t, scgi.Refuse(&out, errors.New("read: connection reset by peer")))
	require.Zero(t, out.Len(), "only a refused request gets an answer")
}

// oneByte writes what it is given a byte at a time, as a daemon's head may reach the CGI writer in pieces.
type oneByte struct{ w io.Writer }

func (o oneByte) Write(p []byte) (int, error) {
	for i := range p {
		if _, err := o.w.Write(p[i : i+1]); err != nil {
			return i, err
		}
	}
	return len(p), nil
}

func TestRespondWritesCGI(t *testing.T) {
	a := app.New(app.Options{})
	env := environ(strings.NewReader(""), "REQUEST_METHOD", "GET", "PATH_INFO", "/stream", "QUERY_STRING",
		"chunks=2&bytes=3", "CONTENT_LENGTH", "0", "SERVER_PROTOCOL", "HTTP/1.1")
	var out bytes.Buffer
	_, err := scgi.Respond(oneByte{&out}, env, a)
	require.NoError(t, err)
	head, body, ok := strings.Cut(out.String(), "\r\n\r\n")
	require.True(t, ok, "%q", out.String())
	require.Equal(t, "abcdef", body, "the body follows the head as it is, until the close")
	lines := strings.Split(head, "\r\n")
	require.Equal(t, "Status: 200 OK", lines[0], "a CGI response starts with its Status field, not a status line")
	require.Contains(t, lines, "Content-Type: text/plain; charset=utf-8")
	for _, l := range lines {
		require.False(t, strings.HasPrefix(l, "Connection:"), "Connection is the hop's business: %q", head)
	}

	out.Reset()
	require.NoError(t, scgi.WriteError(&out, 504, "waited too long"))
	require.True(t, strings.HasPrefix(out.String(), "Status: 504 Gateway Timeout\r\n"), "%q", out.String())
	res, rest, err := readResponse(out.String(), scgi.DefaultLimits)
	require.NoError(t, err)
	require.Equal(t, 504, res.Code)
	require.Equal(t, "504 Gateway Timeout: waited too long\n", rest)
}

func FuzzReadResponse(f *testing.F) {
	f.Add("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nhi")
	f.Add("HTTP/1.1 302 Found\r\nLocation: /x\r\nConnection: close\r\n\r\n")
	f.Add("Location: /x\nX: \n\n")
	f.Fuzz(func(t *testing.T, raw string) {
		res, err := scgi.ReadResponse(bufio.NewReader(strings.NewReader(raw)), scgi.Limits{MaxHeader: 1 << 10})
		if err != nil {
			var se *scgi.Error
			if !errors.As(err, &se) || se.Code != 502 {
				t.Fatalf("error %v is not an *scgi.Error with status 502", err)
			}
			return
		}
		if res.Code < 200 || res.Code > 599 || !strings.HasPrefix(res.Status, strconv.Itoa(res.Code)+" ") {
			t.Fatalf("status %q (code %d)", res.Status, res.Code)
		}
		for _, f := range res.Header {
			if f.Value == "" || !gateway.IsToken(f.Name) || strings.EqualFold(f.Name, "Status") ||
				strings.EqualFold(f.Name, "Connection") || strings.EqualFold(f.Name, "Transfer-Encoding") {
				t.Fatalf("header field %q passed on", f)
			}
		}
	})
}
