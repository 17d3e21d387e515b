package main

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"course/chapters/gateway"
)

// Step 2: the answer.

func TestStep2ReadResponse(t *testing.T) {
	for _, tt := range []struct {
		name, raw  string
		wantStatus string
		wantHeader []gateway.Header
		wantBody   string
	}{
		{
			name:       "a CGI response",
			raw:        "Status: 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nnope\n",
			wantStatus: "404 Not Found",
			wantHeader: []gateway.Header{{Name: "Content-Type", Value: "text/plain"}, {Name: "Content-Length", Value: "5"}},
			wantBody:   "nope\n",
		},
		{
			name:       "no Status: 200 OK",
			raw:        "Content-Type: text/html\r\n\r\n<p>hi</p>",
			wantStatus: "200 OK", wantHeader: []gateway.Header{{Name: "Content-Type", Value: "text/html"}}, wantBody: "<p>hi</p>",
		},
		{
			name:       "a Location and no Status: 302 Found",
			raw:        "Location: http://example.com/\r\n\r\n",
			wantStatus: "302 Found", wantHeader: []gateway.Header{{Name: "Location", Value: "http://example.com/"}},
		},
		{
			name:       "bare LF line endings",
			raw:        "Status: 201 Created\nX-A: 1\n\nmade",
			wantStatus: "201 Created", wantHeader: []gateway.Header{{Name: "X-A", Value: "1"}}, wantBody: "made",
		},
		{
			name:       "Connection and Keep-Alive are about the daemon's connection: dropped",
			raw:        "Status: 200 OK\r\nConnection: close\r\nSet-Cookie: a=1\r\nKeep-Alive: timeout=5\r\nSet-Cookie: b=2\r\n\r\nok",
			wantStatus: "200 OK", wantHeader: []gateway.Header{{Name: "Set-Cookie", Value: "a=1"}, {Name: "Set-Cookie", Value: "b=2"}},
			wantBody: "ok",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := readResponse(bufio.NewReader(strings.NewReader(tt.raw)))
			if err != nil {
				t.Fatalf("readResponse(%q): %v", tt.raw, err)
			}
			if res.Status != tt.wantStatus || strconv.Itoa(res.Code) != tt.wantStatus[:3] {
				t.Errorf("readResponse(%q): status %q (code %d), want %q", tt.raw, res.Status, res.Code, tt.wantStatus)
			}
			if !equalHeaders(res.Header, tt.wantHeader) {
				t.Errorf("readResponse(%q): header fields %q, want %q", tt.raw, res.Header, tt.wantHeader)
			}
			if res.Body == nil {
				t.Fatalf("readResponse(%q): no Body", tt.raw)
			}
			body, _ := io.ReadAll(res.Body)
			if string(body) != tt.wantBody {
				t.Errorf("readResponse(%q): body %q, want %q", tt.raw, body, tt.wantBody)
			}
		})
	}
	for _, tt := range []struct{ name, raw string }{
		{"closed before any answer", ""},
		{"closed in the middle of the head", "Status: 200 OK\r\nContent-Type: te"},
		{"a line that is not a header field", "Status: 200 OK\r\nthis is not a field\r\n\r\n"},
		{"a Status that is not a status", "Status: OK\r\n\r\n"},
	} {
		t.Run(tt.name+": 502", func(t *testing.T) {
			_, err := readResponse(bufio.NewReader(strings.NewReader(tt.raw)))
			if gateway.StatusOf(err) != 502 {
				t.Fatalf("readResponse(%q) returned %v (status %d), want an error with status 502 (Bad Gateway)",
					tt.raw, err, gateway.StatusOf(err))
			}
		})
	}
}

// stalled is a connection whose read deadline passes, as with a daemon that stopped talking.
type stalled struct{}

func (stalled) Read([]byte) (int, error) { return 0, os.ErrDeadlineExceeded }

func TestStep2ReadTimeout(t *testing.T) {
	// Not a 502 of readResponse's own: the front end answers a daemon that stopped talking 504 (step 6), and
	// must be able to tell it from one that closed the connection.
	for _, tt := range []struct{ name, before string }{
		{"nothing came", ""},
		{"a part of the head came", "Status: 200 OK\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readResponse(bufio.NewReader(io.MultiReader(strings.NewReader(tt.before), stalled{})))
			if !isTimeout(err) {
				t.Fatalf("readResponse of a connection whose read deadline passed (%s) returned %v: return the read's "+
					"error as it is, or wrapped with %%w, so that the front end can tell a timeout (isTimeout) from a close", tt.name, err)
			}
		})
	}
}

func equalHeaders(a, b []gateway.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i].Name, b[i].Name) || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}
