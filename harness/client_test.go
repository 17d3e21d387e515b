package harness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// peer listens on a loopback port, runs handle on each connection it accepts (at most max), and returns
// the address. The test's cleanup closes the listener and waits for every handler to return, so handlers
// must end on their own: when the client closes, or at the connection's 10 s deadline.
func peer(t *testing.T, max int, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range max {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return l.Addr().String()
}

// readHeads reads from c until it has seen n request heads (no bodies) and returns the bytes.
func readHeads(c net.Conn, n int) []byte {
	var b []byte
	buf := make([]byte, 4096)
	for bytes.Count(b, []byte("\r\n\r\n")) < n {
		k, err := c.Read(buf)
		b = append(b, buf[:k]...)
		if err != nil {
			break
		}
	}
	return b
}

func dialT(t *testing.T, addr string) *Conn {
	t.Helper()
	c, err := Dial(addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConnPipelining(t *testing.T) {
	got := make(chan []byte, 1)
	addr := peer(t, 1, func(c net.Conn) {
		got <- readHeads(c, 3)
		// All three responses in one write, the last one split by the client's buffer across reads.
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na" +
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc" + "HTTP/1.1 200"))
		readHeads(c, 1)
	})
	c := dialT(t, addr)
	reqs := [][]byte{Request("GET", "/a"), Request("GET", "/b"), Request("GET", "/c")}
	require.NoError(t, Pipeline(c, reqs...))
	require.Equal(t, bytes.Join(reqs, nil), <-got, "the requests arrive back to back")

	rs, err := c.ReadResponses(3, 5*time.Second)
	require.NoError(t, err)
	var bodies []string
	for _, r := range rs {
		bodies = append(bodies, string(r.Body))
	}
	require.Equal(t, []string{"a", "b", "c"}, bodies)
	require.True(t, rs[1].Chunked)
	_, err = c.ReadResponse(200*time.Millisecond, false)
	var re *ReadError
	require.ErrorAs(t, err, &re)
	require.True(t, re.Timeout())
	require.Equal(t, "HTTP/1.1 200", string(re.Got))
	require.Equal(t, "HTTP/1.1 200", string(c.Buffered()), "bytes after the third response stay buffered")
}

func TestExpectClosed(t *testing.T) {
	const resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	tests := []struct {
		name    string
		handle  func(net.Conn) // after the request has arrived
		wantErr string
	}{
		{"closed", func(c net.Conn) { c.Write([]byte(resp)) }, ""},
		{"reset", func(c net.Conn) {
			c.Write([]byte(resp))
			c.(*net.TCPConn).SetLinger(0)
		}, ""},
		{"extra bytes", func(c net.Conn) { c.Write([]byte(resp + "junk\r\n")) }, `unexpected extra bytes after the response: "junk\r\n"`},
		{"extra bytes later", func(c net.Conn) {
			c.Write([]byte(resp))
			time.Sleep(50 * time.Millisecond)
			c.Write([]byte("\r\n"))
		}, `unexpected extra bytes after the response: "\r\n"`},
		{"still open", func(c net.Conn) {
			c.Write([]byte(resp))
			readHeads(c, 1) // until the client closes
		}, "connection still open after 300ms (expected the server to close it)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialT(t, peer(t, 1, func(c net.Conn) {
				readHeads(c, 1)
				tt.handle(c)
			}))
			require.NoError(t, c.Send(Request("GET", "/")))
			r, err := c.ReadResponse(5*time.Second, false)
			require.NoError(t, err)
			require.Equal(t, "ok", string(r.Body))
			wait := 5 * time.Second // the outcome comes on its own: wait long, for a loaded machine
			if tt.name == "still open" {
				wait = 300 * time.Millisecond
			}
			err = c.ExpectClosed(wait)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.wantErr)
			if tt.name == "still open" {
				require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			}
		})
	}
}

func TestReadResponseErrors(t *testing.T) {
	const partial = "HTTP/1.1 200 OK\r\nContent-Le"
	tests := []struct {
		name    string
		handle  func(net.Conn) // after the request has arrived
		is      error
		wantErr string
	}{
		{"timeout with nothing", func(c net.Conn) { readHeads(c, 1) }, os.ErrDeadlineExceeded,
			"no complete response within 200ms: no bytes arrived"},
		{"timeout with a partial response", func(c net.Conn) {
			c.Write([]byte(partial))
			readHeads(c, 1)
		}, os.ErrDeadlineExceeded,
			`no complete response within 200ms: 27 bytes arrived: "HTTP/1.1 200 OK\r\nContent-Le" (the header section is not finished (it ends with an empty line))`},
		{"EOF mid-response", func(c net.Conn) { c.Write([]byte(partial)) }, io.EOF,
			`the server closed the connection before a complete response: 27 bytes arrived: "HTTP/1.1 200 OK\r\nContent-Le" (the header section is not finished (it ends with an empty line))`},
		{"EOF with nothing", func(c net.Conn) {}, io.EOF,
			"the server closed the connection before a complete response: no bytes arrived"},
		{"reset", func(c net.Conn) { c.(*net.TCPConn).SetLinger(0) }, syscall.ECONNRESET,
			"the server reset the connection before a complete response: no bytes arrived"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialT(t, peer(t, 1, func(c net.Conn) {
				readHeads(c, 1)
				tt.handle(c)
			}))
			require.NoError(t, c.Send(Request("GET", "/")))
			wait := 5 * time.Second // the outcome comes on its own: wait long, for a loaded machine
			if tt.is == os.ErrDeadlineExceeded {
				wait = 200 * time.Millisecond
			}
			start := time.Now()
			_, err := c.ReadResponse(wait, false)
			var re *ReadError
			require.ErrorAs(t, err, &re)
			require.ErrorIs(t, err, tt.is)
			require.EqualError(t, err, tt.wantErr)
			require.Less(t, time.Since(start), wait+3*time.Second)
		})
	}
}

func TestReadResponseCloseDelimited(t *testing.T) {
	c := dialT(t, peer(t, 1, func(c net.Conn) {
		c.Write([]byte("HTTP/1.0 200 OK\r\n\r\nuntil"))
		time.Sleep(20 * time.Millisecond)
		c.Write([]byte(" the end"))
	}))
	r, err := c.ReadResponse(5*time.Second, false)
	require.NoError(t, err)
	require.Equal(t, "until the end", string(r.Body))
	require.NoError(t, c.ExpectClosed(time.Second))
}

func TestReadResponseInvalid(t *testing.T) {
	c := dialT(t, peer(t, 1, func(c net.Conn) {
		c.Write([]byte("HTTP/1.1 200 OK\nContent-Length: 0\n\n"))
		readHeads(c, 1)
	}))
	_, err := c.ReadResponse(5*time.Second, false)
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	require.False(t, pe.Incomplete)
	require.Equal(t, "the response is not valid HTTP/1.1 (at byte 15): status line ends in a bare LF (HTTP lines end in CRLF)", DescribeNetError(err))
}

func TestResetSeenByPeer(t *testing.T) {
	readErr := make(chan error, 1)
	addr := peer(t, 1, func(c net.Conn) {
		buf := make([]byte, 1024)
		for {
			if _, err := c.Read(buf); err != nil {
				readErr <- err
				return
			}
		}
	})
	c := dialT(t, addr)
	require.NoError(t, c.SendString("GET / HT"))
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, c.Reset())
	require.ErrorIs(t, <-readErr, syscall.ECONNRESET)
	require.Contains(t, c.Transcript(), "> [RST (abortive close)]\n")
}

func TestCloseWrite(t *testing.T) {
	c := dialT(t, peer(t, 1, func(c net.Conn) {
		req, _ := io.ReadAll(c) // until the half-close
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(req), req)
	}))
	require.NoError(t, c.SendString("ping"))
	require.NoError(t, c.CloseWrite())
	r, err := c.ReadResponse(5*time.Second, false)
	require.NoError(t, err)
	require.Equal(t, "ping", string(r.Body))
}

func TestExpectQuiet(t *testing.T) {
	quiet := dialT(t, peer(t, 1, func(c net.Conn) { readHeads(c, 1) }))
	require.NoError(t, quiet.ExpectQuiet(100*time.Millisecond))

	chatty := dialT(t, peer(t, 1, func(c net.Conn) {
		c.Write([]byte("hi"))
		readHeads(c, 1)
	}))
	require.EqualError(t, chatty.ExpectQuiet(2*time.Second), `unexpected bytes (expected silence for 2s): "hi"`)

	closing := dialT(t, peer(t, 1, func(c net.Conn) {}))
	require.ErrorContains(t, closing.ExpectQuiet(2*time.Second), "expected the connection to stay open for 2s: the server closed the connection (EOF)")
}

func TestTrickleStopsWhenThePeerCloses(t *testing.T) {
	c := dialT(t, peer(t, 1, func(c net.Conn) {
		io.ReadFull(c, make([]byte, 10))
	}))
	err := c.Trickle(bytes.Repeat([]byte("x"), 400), 1, 5*time.Millisecond)
	require.ErrorIs(t, err, ErrPeerClosed)
	require.Regexp(t, `^trickle: the server closed the connection after \d+ of 400 bytes: `, err.Error())
}

func TestTranscript(t *testing.T) {
	c := dialT(t, peer(t, 1, func(c net.Conn) {
		readHeads(c, 1)
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n\x00\t\\\xff"))
		readHeads(c, 1)
	}))
	require.NoError(t, c.Send(Request("GET", "/", "X-A: b")))
	_, err := c.ReadResponse(5*time.Second, false)
	require.NoError(t, err)
	require.Equal(t, `> GET / HTTP/1.1\r\n
> Host: 127.0.0.1\r\n
> X-A: b\r\n
> \r\n
< HTTP/1.1 200 OK\r\n
< Content-Length: 4\r\n
< \r\n
< \x00\t\\\xff
`, c.Transcript())
}

func TestTranscriptIsBounded(t *testing.T) {
	c := dialT(t, peer(t, 1, func(c net.Conn) { io.Copy(io.Discard, c) }))
	require.NoError(t, c.Send(bytes.Repeat([]byte("a\n"), 10<<10)))
	tr := c.Transcript()
	require.Equal(t, 4<<10, strings.Count(tr, "> a\\n\n"), "the first 8 KiB")
	require.True(t, strings.HasSuffix(tr, "[... not shown: 12288 more bytes sent, 0 more bytes received; the transcript keeps the first 8192 bytes each way]\n"), tr[len(tr)-200:])
}

func TestDialSmallBuffer(t *testing.T) {
	addr := peer(t, 1, func(c net.Conn) { readHeads(c, 1) })
	c, err := DialSmallBuffer(addr, 4096, 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	rc, err := c.Raw().(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	var size int
	var serr error
	require.NoError(t, rc.Control(func(fd uintptr) { size, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) }))
	require.NoError(t, serr)
	require.Equal(t, 8192, size, "Linux doubles the value set, for its bookkeeping")
}

func TestDialRefusesOtherAddresses(t *testing.T) {
	for _, addr := range []string{"10.1.2.3:80", "example.com:80", "0.0.0.0:80", "nohost"} {
		_, err := Dial(addr, time.Second)
		require.Error(t, err, addr)
	}
	_, err := Dial("10.1.2.3:80", time.Second)
	require.EqualError(t, err, "dial 10.1.2.3:80: not a loopback address (the harness only talks to local servers)")
}

func TestRequest(t *testing.T) {
	tests := []struct {
		method, target string
		headers        []string
		want           string
	}{
		{"GET", "/hello", nil, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"},
		{"POST", "/echo", []string{"Content-Length: 2"}, "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n"},
		{"GET", "/", []string{"host: example", "Connection: close"}, "GET / HTTP/1.1\r\nhost: example\r\nConnection: close\r\n\r\n"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, string(Request(tt.method, tt.target, tt.headers...)))
	}
}

func TestGarbage(t *testing.T) {
	a, b := Garbage(4096, 1), Garbage(4096, 1)
	require.Len(t, a, 4096)
	require.Equal(t, a, b, "same seed, same bytes")
	require.NotEqual(t, a, Garbage(4096, 2))
	require.True(t, bytes.ContainsAny(a, "\r\n"), "CR and LF can appear")
}

func TestDescribeNetError(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)},
			"the server reset the connection (RST): it closed the socket while unread data was in its buffer, or crashed"},
		{&ReadError{Err: io.EOF, Got: []byte("HTTP/1.1")},
			"the server closed the connection (EOF) before a complete response: did it close instead of answering, or crash? (8 bytes of a response had arrived)"},
		{&ReadError{Err: os.ErrDeadlineExceeded},
			"timed out waiting for the server: it accepted the connection but did not answer in time; is it busy with another connection, or waiting for more of the request than was sent?"},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)},
			"connection refused: nothing is listening on that port; did the server exit or crash?"},
		{fmt.Errorf("send: %w", os.NewSyscallError("write", syscall.EPIPE)),
			"the server had already closed the connection when we sent more (broken pipe): did it close before reading the whole request?"},
		{&ParseError{Incomplete: true, Reason: "the body has 1 of 2 bytes"}, "the response was cut short: the body has 1 of 2 bytes"},
		{errors.New("something else"), "something else"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, DescribeNetError(tt.err))
	}
}
