package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"course/chapters/app"
	"course/chapters/gateway"
	"course/chapters/launch"
)

// Step 8: the request loop. README: "Step 8: the request loop". Each test serves one loopback TCP connection
// with serveConn and the course's test application, and talks to it as a client would.

// patient is a configuration whose timeouts no test of step 8 reaches: step 9 is about them.
func patient() *launch.Config {
	return &launch.Config{HeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second, BodyTimeout: 5 * time.Second,
		WriteTimeout: 5 * time.Second, MaxBody: 1 << 20}
}

// client is the client side of a connection that serveConn serves.
type client struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
	done chan struct{} // closed when serveConn returns
}

// connect opens a loopback connection, serves its server side with serveConn(ctx, ..., cfg, ...) in a
// goroutine, and returns its client side.
func connect(t *testing.T, ctx context.Context, cfg *launch.Config) *client {
	t.Helper()
	return connectVia(t, ctx, cfg, func(c net.Conn) net.Conn { return c })
}

// connectVia is connect with the server's side of the connection wrapped by wrap, through which a test
// watches what serveConn does with it.
func connectVia(t *testing.T, ctx context.Context, cfg *launch.Config, wrap func(net.Conn) net.Conn) *client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	srvConn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	gw := gateway.Server{Name: "127.0.0.1", Port: port, Errors: io.Discard}
	c := &client{t: t, conn: conn, br: bufio.NewReader(conn), done: make(chan struct{})}
	served := wrap(srvConn)
	go func() {
		defer close(c.done)
		serveConn(ctx, served, cfg, gw, app.New(app.Options{}))
	}()
	return c
}

// send writes raw to the server.
func (c *client) send(raw string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c.conn, raw); err != nil {
		c.t.Fatalf("sending %s: %v", show(raw), err)
	}
}

// response reads the next response, within 3 s, and returns its status code, whether it says Connection:
// close, and its body. It fails the test if no whole response comes.
func (c *client) response(what string) (code int, closes bool, body string) {
	c.t.Helper()
	code, closes, body, err := c.tryResponse()
	if err != nil {
		c.t.Fatalf("reading the response to %s: %v", what, err)
	}
	return code, closes, body
}

// tryResponse reads the next response, within 3 s, as response does, and returns the error if none comes.
func (c *client) tryResponse() (code int, closes bool, body string, err error) {
	c.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, false, "", errors.New(describe(err))
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, false, "", errors.New("its body: " + describe(err))
	}
	return res.StatusCode, res.Close, string(b), nil
}

// closed waits up to d for the server to close the connection, reading what it still sends, and reports
// whether it did and after how long.
func (c *client) closed(d time.Duration) (bool, time.Duration, string) {
	start := time.Now()
	c.conn.SetReadDeadline(start.Add(d))
	b, err := io.ReadAll(c.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, time.Since(start), string(b)
	}
	return true, time.Since(start), string(b)
}

// describe explains the errors a client meets when the server did not do its part.
func describe(err error) string {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return err.Error() + " (the server closed the connection)"
	case errors.Is(err, syscall.ECONNRESET):
		return err.Error() + " (the server closed the connection)"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err.Error() + " (no response came)"
	}
	return err.Error()
}

// returned waits up to d for serveConn to return.
func (c *client) returned(d time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(d):
		return false
	}
}

const hello = "Hello, World!\n" // the body of GET /hello

func TestStep8RequestLoop(t *testing.T) {
	tests := []struct {
		rule  string
		check func(t *testing.T, c *client)
	}{
		{"keep-alive: a second request on the same connection is answered (RFC 9112 section 9.3)", func(t *testing.T, c *client) {
			for _, n := range []string{"first", "second"} {
				c.send(lines("GET /hello HTTP/1.1", "Host: x", ""))
				if code, _, body := c.response("the " + n + " GET /hello"); code != 200 || body != hello {
					t.Fatalf("the %s GET /hello got %d %q; want 200 %q", n, code, body, hello)
				}
			}
		}},
		{"pipelining: requests sent together are answered in order (section 9.3.2)", func(t *testing.T, c *client) {
			c.send(lines("GET /hello HTTP/1.1", "Host: x", "") +
				lines("POST /echo HTTP/1.1", "Host: x", "Content-Length: 5", "") + "hello" +
				lines("GET /hello HTTP/1.1", "Host: x", ""))
			for i, want := range []string{hello, "hello", hello} {
				if code, _, body := c.response("pipelined request " + string(rune('1'+i))); code != 200 || body != want {
					t.Fatalf("pipelined request %d got %d %q; want 200 %q (the requests were sent in one write: the next may already be in the reader's buffer)", i+1, code, body, want)
				}
			}
		}},
		{"Connection: close: the connection closes after the response (section 9.6)", func(t *testing.T, c *client) {
			c.send(lines("GET /hello HTTP/1.1", "Host: x", "Connection: close", ""))
			if code, closes, _ := c.response("GET /hello with Connection: close"); code != 200 || !closes {
				t.Fatalf("got %d, Connection: close %v; want 200 with Connection: close", code, closes)
			}
			if ok, _, extra := c.closed(2 * time.Second); !ok || extra != "" {
				t.Errorf("after the response, the connection was closed: %v, with %q more; want it closed, with nothing more", ok, extra)
			}
			if !c.returned(time.Second) {
				t.Error("serveConn had not returned 1s after the connection ended")
			}
		}},
		{"HTTP/1.0 without Connection: keep-alive: the connection closes after the response (section 9.3)", func(t *testing.T, c *client) {
			c.send(lines("GET /hello HTTP/1.0", ""))
			if code, _, body := c.response("GET /hello HTTP/1.0"); code != 200 || body != hello {
				t.Fatalf("got %d %q; want 200 %q", code, body, hello)
			}
			if ok, _, _ := c.closed(2 * time.Second); !ok {
				t.Error("the connection was still open 2s after the response to an HTTP/1.0 request")
			}
		}},
		{"a request that cannot be read gets its status, then the connection closes (the next request's start is lost)", func(t *testing.T, c *client) {
			c.send(lines("GET /hello HTTP/1.1", "Host : x", "") + lines("GET /hello HTTP/1.1", "Host: x", ""))
			if code, _, _ := c.response("a request with a space before a colon"); code != 400 {
				t.Fatalf("got %d; want 400, the status readRequest refused it with (http1.Refuse)", code)
			}
			if ok, _, extra := c.closed(2 * time.Second); !ok || extra != "" {
				t.Errorf("after the 400, the connection was closed: %v, with %q more; want it closed, with nothing more", ok, extra)
			}
		}},
		{"the client closes the connection: serveConn returns", func(t *testing.T, c *client) {
			c.send(lines("GET /hello HTTP/1.1", "Host: x", ""))
			c.response("GET /hello")
			c.conn.Close()
			if !c.returned(2 * time.Second) {
				t.Error("serveConn had not returned 2s after the client closed the connection: readRequest's io.EOF means it is over")
			}
		}},
		{"a refused request whose body still comes: the client may go on sending for a while, without a reset (RFC 9112 section 9.6)", func(t *testing.T, c *client) {
			chunk := strings.Repeat("x", 64<<10)
			c.send(lines("POST /echo HTTP/1.1", "Host: x", "Content-Length: 2000000", "") + chunk)
			if code, _, _ := c.response("a POST of 2000000 bytes, over cfg.MaxBody"); code != 413 {
				t.Fatalf("got %d; want 413", code)
			}
			time.Sleep(100 * time.Millisecond) // as a client does that has more to send
			c.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.WriteString(c.conn, chunk); err != nil {
				t.Errorf("the client, still sending its body 100ms after the 413, got %v: a server that closes with unread bytes makes the kernel reset the connection; call http1.Linger before the close (README: Limits)", err)
			}
		}},
		{"an answer that ends the connection while the body is unread: the client may go on sending, without a reset", func(t *testing.T, c *client) {
			chunk := strings.Repeat("x", 64<<10)
			c.send(lines("POST /hello HTTP/1.1", "Host: x", "Connection: close", "Content-Length: 1000000", "") + chunk)
			if code, _, _ := c.response("POST /hello with Connection: close and a body"); code != 405 {
				t.Fatalf("got %d; want 405: /hello takes GET and HEAD only", code)
			}
			time.Sleep(100 * time.Millisecond)
			c.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.WriteString(c.conn, chunk); err != nil {
				t.Errorf("the client, still sending its body 100ms after the response, got %v: after an answer that ends the connection when the request had a body, call http1.Linger before the close", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tt.check(t, connect(t, ctx, patient()))
		})
	}
}
