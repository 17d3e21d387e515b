package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"course/chapters/gateway"
	"course/chapters/scgi"
)

// Step 1: the request on the wire.

// failingBody is a client's body whose reading fails, as one over -max-body does with 413.
type failingBody struct{}

func (failingBody) Read([]byte) (int, error) {
	return 0, &statusError{code: 413, msg: "body over -max-body"}
}

func TestStep1WriteRequest(t *testing.T) {
	t.Run("the netstring, CONTENT_LENGTH first and SCGI=1 second", func(t *testing.T) {
		env := &gateway.Environ{Vars: map[string]string{"CONTENT_LENGTH": "0", "REQUEST_METHOD": "GET"}, Input: strings.NewReader("")}
		var out bytes.Buffer
		if err := writeRequest(&out, env); err != nil {
			t.Fatalf("writeRequest: %v", err)
		}
		vars := "CONTENT_LENGTH\x000\x00SCGI\x001\x00REQUEST_METHOD\x00GET\x00"
		if want := strconv.Itoa(len(vars)) + ":" + vars + ","; out.String() != want {
			t.Fatalf("writeRequest sent\n %q\nwant\n %q\n(a netstring: the length of the variables, a colon, the "+
				"variables each ended by a NUL byte, CONTENT_LENGTH first and SCGI=1 second, a comma)", out.String(), want)
		}
	})
	for _, tt := range []struct {
		name, method, target, body string
		chunked                    bool
	}{
		{"a GET", "GET", "/env?a=1&b=%20", "", false},
		{"a POST and its body", "POST", "/echo", "ping\x00pong", false},
		{"a chunked body, counted first", "POST", "/echo", strings.Repeat("0123456789", 10000), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			length := int64(len(tt.body))
			if tt.chunked {
				length = -1
			}
			env := environOf(t, tt.method, tt.target, strings.NewReader(tt.body), length,
				gateway.Header{Name: "X-Test", Value: "one"}, gateway.Header{Name: "Content-Type", Value: "text/x-test"})
			want := map[string]string{}
			for k, v := range env.Vars {
				want[k] = v
			}
			want["CONTENT_LENGTH"] = strconv.Itoa(len(tt.body))
			var out bytes.Buffer
			if err := writeRequest(&out, env); err != nil {
				t.Fatalf("writeRequest: %v", err)
			}
			if !strings.Contains(out.String(), ":CONTENT_LENGTH\x00"+want["CONTENT_LENGTH"]+"\x00SCGI\x001\x00") {
				t.Fatalf("the variables must start with CONTENT_LENGTH\\0%s\\0SCGI\\01\\0, right after the netstring's colon: %q",
					want["CONTENT_LENGTH"], clip(out.String()))
			}
			br := bufio.NewReader(&out)
			req, err := scgi.ReadRequest(br, scgi.DefaultLimits)
			if err != nil {
				t.Fatalf("a daemon cannot read what writeRequest sent: %v\nsent: %q", err, clip(out.String()))
			}
			for k, v := range want {
				if req.Vars[k] != v {
					t.Errorf("variable %s: the daemon read %q, want %q", k, req.Vars[k], v)
				}
			}
			if len(req.Vars) != len(want) {
				t.Errorf("the daemon read %d variables, want %d: %v", len(req.Vars), len(want), req.Vars)
			}
			body, err := io.ReadAll(req.Body)
			if err != nil || string(body) != tt.body {
				t.Errorf("the daemon read a body of %d bytes (%v), want %d: %q", len(body), err, len(tt.body), clip(string(body)))
			}
			if rest, _ := io.ReadAll(br); len(rest) > 0 {
				t.Errorf("%d bytes follow the body: %q", len(rest), clip(string(rest)))
			}
		})
	}
	t.Run("a NUL in a variable: 400", func(t *testing.T) {
		env := environOf(t, "GET", "/a%00b", strings.NewReader(""), 0)
		err := writeRequest(io.Discard, env)
		if gateway.StatusOf(err) != 400 {
			t.Fatalf("writeRequest of a PATH_INFO holding a NUL byte returned %v (status %d), want an error with status 400",
				err, gateway.StatusOf(err))
		}
	})
	t.Run("a chunked body that fails: its error", func(t *testing.T) {
		env := environOf(t, "POST", "/echo", failingBody{}, -1)
		err := writeRequest(io.Discard, env)
		var se *statusError
		if !errors.As(err, &se) || se.code != 413 {
			t.Fatalf("writeRequest of a body whose reading fails with 413 returned %v, want that error (wrapped with %%w, or as it is)", err)
		}
	})
}

// clip shortens s for a message.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
