package main

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"course/chapters/app"
	"course/chapters/daemon"
	"course/chapters/gateway"
	"course/chapters/scgi"
)

// Step 3: the hand-off.

func TestStep3Hop(t *testing.T) {
	g := referenceGroup(t, &daemon.Server{App: app.New(app.Options{}), Threads: 4})
	h := &hop{socket: g.sock, connectTimeout: wait, socketTimeout: 2 * wait}
	t.Run("GET /hello", func(t *testing.T) {
		a := viaFront(t, h.app, "GET", "/hello", "")
		if a.code != 200 || a.body != "Hello, World!\n" {
			t.Fatalf("GET /hello through the hop: %d %q, want 200 \"Hello, World!\\n\"\n%s", a.code, a.body, a.head)
		}
		if !strings.Contains(a.head, "Content-Length: 14") {
			t.Errorf("GET /hello: the daemon's Content-Length must be passed on, for the front end to frame the body:\n%s", a.head)
		}
	})
	t.Run("POST /echo: the body crosses", func(t *testing.T) {
		body := strings.Repeat("abcdefghij", 30000)
		a := viaFront(t, h.app, "POST", "/echo", body, gateway.Header{Name: "Content-Type", Value: "text/x-test"})
		if a.code != 200 || a.body != body {
			t.Fatalf("POST /echo with %d bytes through the hop: %d and %d bytes back", len(body), a.code, len(a.body))
		}
	})
	t.Run("a stream arrives as it is made", func(t *testing.T) {
		env := environOf(t, "GET", "/stream?chunks=2&bytes=3&ms=600", strings.NewReader(""), 0)
		var status string
		start := time.Now()
		b, err := h.app(env, func(s string, _ []gateway.Header) error { status = s; return nil })
		if err != nil {
			t.Fatalf("GET /stream: %v", err)
		}
		defer b.Close()
		var got []byte
		for len(got) < 3 {
			chunk, err := b.Next()
			if err != nil {
				t.Fatalf("GET /stream: next: %v after %q", err, got)
			}
			got = append(got, chunk...)
		}
		if took := time.Since(start); took > 450*time.Millisecond {
			t.Errorf("the first chunk of GET /stream came after %v, with the second (600 ms later): next must return "+
				"what the daemon has sent, not wait for the end", took.Round(time.Millisecond))
		}
		rest := readAllBody(t, b)
		if status != "200 OK" || string(got)+rest != "abcdef" {
			t.Errorf("GET /stream: %q and %q, want 200 OK and \"abcdef\"", status, string(got)+rest)
		}
	})
	t.Run("a daemon that closes without answering: 502", func(t *testing.T) {
		sock := silentDaemon(t, func(c net.Conn) { scgi.ReadRequest(bufio.NewReader(c), scgi.DefaultLimits) })
		h := &hop{socket: sock, connectTimeout: wait, socketTimeout: 2 * wait}
		_, err := h.app(environOf(t, "GET", "/hello", strings.NewReader(""), 0), noStart)
		if gateway.StatusOf(err) != 502 {
			t.Fatalf("a daemon closed the connection without answering: app returned %v (status %d), want an error with status 502",
				err, gateway.StatusOf(err))
		}
	})
	t.Run("closing the body closes the connection to the daemon", func(t *testing.T) {
		stopped := make(chan error, 1)
		sock := silentDaemon(t, func(c net.Conn) {
			// A daemon that streams until its writes fail, as one does when the front end closes.
			scgi.ReadRequest(bufio.NewReader(c), scgi.DefaultLimits)
			io.WriteString(c, "Status: 200 OK\r\n\r\n")
			for {
				c.SetWriteDeadline(time.Now().Add(3 * wait))
				if _, err := c.Write(make([]byte, 1024)); err != nil {
					stopped <- err
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
		h := &hop{socket: sock, connectTimeout: wait, socketTimeout: 2 * wait}
		b, err := h.app(environOf(t, "GET", "/stream", strings.NewReader(""), 0), func(string, []gateway.Header) error { return nil })
		if err != nil {
			t.Fatalf("app: %v", err)
		}
		if _, err := b.Next(); err != nil {
			t.Fatalf("next: %v", err)
		}
		b.Close() // the client went away
		select {
		case <-stopped:
		case <-time.After(wait):
			t.Fatalf("the daemon could still write %v after the body was closed: close must close the connection to the daemon, "+
				"which then stops (the client is gone)", wait)
		}
	})
	t.Run("a failed answer closes the connection too", func(t *testing.T) {
		closed := make(chan bool, 1)
		sock := silentDaemon(t, func(c net.Conn) {
			scgi.ReadRequest(bufio.NewReader(c), scgi.DefaultLimits)
			io.WriteString(c, "this is not a response\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(wait))
			_, err := c.Read(make([]byte, 1))
			closed <- err == io.EOF
		})
		h := &hop{socket: sock, connectTimeout: wait, socketTimeout: 2 * wait}
		if _, err := h.app(environOf(t, "GET", "/hello", strings.NewReader(""), 0), noStart); err == nil {
			t.Fatalf("app returned no error for a daemon that answered nonsense")
		}
		select {
		case ok := <-closed:
			if !ok {
				t.Fatalf("after an answer it could not read, app left the connection to the daemon open: close it")
			}
		case <-time.After(wait):
			t.Fatalf("app did not connect to the daemon, or left the connection open %v after an answer it could not read", wait)
		}
	})
}

// noStart is a start_response that must not be called.
func noStart(status string, _ []gateway.Header) error {
	panic("start_response called with " + status + " for a failed answer")
}

// readAllBody reads a body to its end.
func readAllBody(t *testing.T, b gateway.Body) string {
	t.Helper()
	var all []byte
	for {
		chunk, err := b.Next()
		all = append(all, chunk...)
		if err == io.EOF {
			return string(all)
		}
		if err != nil {
			t.Fatalf("next: %v after %q", err, all)
		}
	}
}
