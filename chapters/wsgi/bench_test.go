package wsgi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The benchmarks measure the Python test application's GET /hello at 2 processes x 4 threads, from Go
// clients on the same machine, for orientation (chapter 5's make bench compares the front ends):
//
//	go test -run '^$' -bench . -benchtime 5s ./chapters/wsgi
//
// BenchmarkDaemon sends SCGI straight to two of the course's daemons sharing one socket, a connection per
// request as a front end does. BenchmarkGunicorn sends HTTP to Debian's gunicorn with its gthread workers
// (apt-get install gunicorn), on keep-alive connections and with a connection per request. Each reports
// requests per second (req/s); 16 clients keep the 8 threads busy.
const benchClients = 16

func BenchmarkDaemon(b *testing.B) {
	first := startDaemon(b, options{threads: 4, processes: 2, worker: "1", beatMS: 1000})
	startDaemon(b, options{threads: 4, processes: 2, worker: "2", beatMS: 1000, group: first})
	r := request{method: "GET", target: "/hello"}
	run(b, func() (func() error, func()) {
		return func() error {
			rep, err := send(first.sock, r)
			if err == nil && rep.body != "Hello, World!\n" {
				err = fmt.Errorf("GET /hello: %q", rep.body)
			}
			return err
		}, func() {}
	})
}

func BenchmarkGunicorn(b *testing.B) {
	gunicorn, err := exec.LookPath("gunicorn")
	if err != nil {
		b.Skip("gunicorn is not installed (apt-get install gunicorn)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(gunicorn, "--worker-class", "gthread", "--workers", "2", "--threads", "4",
		"--bind", addr, "--log-level", "warning", "testapp:app")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(b, cmd.Start())
	b.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		require.False(b, time.Now().After(deadline), "gunicorn does not listen on %s:\n%s", addr, out.String())
	}
	for _, keepAlive := range []bool{true, false} {
		b.Run(fmt.Sprintf("keep-alive=%v", keepAlive), func(b *testing.B) {
			run(b, func() (func() error, func()) {
				c := &httpClient{addr: addr, keepAlive: keepAlive}
				return c.hello, c.close
			})
		})
	}
}

// run runs benchClients clients, each made by newClient, for b.N requests in all, and reports req/s.
func run(b *testing.B, newClient func() (do func() error, done func())) {
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((benchClients + procs - 1) / procs) // RunParallel starts parallelism x GOMAXPROCS goroutines
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		do, done := newClient()
		defer done()
		for pb.Next() {
			if err := do(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// httpClient sends GET /hello over HTTP/1.1, on one connection, or on a new one for each request.
type httpClient struct {
	addr      string
	keepAlive bool
	conn      net.Conn
	br        *bufio.Reader
}

func (c *httpClient) hello() error {
	if c.conn == nil {
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			return err
		}
		c.conn, c.br = conn, bufio.NewReader(conn)
	}
	req := "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
	if !c.keepAlive {
		req = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
	}
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c.conn, req); err != nil {
		return err
	}
	length, chunked, closing := -1, false, !c.keepAlive
	for first := true; ; first = false {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("reading the response head: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case first && !strings.HasPrefix(line, "HTTP/1.1 200 "):
			return fmt.Errorf("status line %q", line)
		case line == "":
			body, err := c.body(length, chunked)
			if err != nil || body != "Hello, World!\n" {
				return fmt.Errorf("body %q: %v", body, err)
			}
			if closing {
				c.close()
			}
			return nil
		}
		name, value, _ := strings.Cut(line, ":")
		switch strings.ToLower(name) {
		case "content-length":
			length, _ = strconv.Atoi(strings.TrimSpace(value))
		case "transfer-encoding":
			chunked = strings.EqualFold(strings.TrimSpace(value), "chunked")
		case "connection":
			closing = closing || strings.EqualFold(strings.TrimSpace(value), "close")
		}
	}
}

// body reads a body of length bytes, or a chunked one (gunicorn sends a list body chunked, not with its
// length).
func (c *httpClient) body(length int, chunked bool) (string, error) {
	if !chunked {
		if length < 0 {
			return "", fmt.Errorf("no Content-Length and not chunked")
		}
		b := make([]byte, length)
		_, err := io.ReadFull(c.br, b)
		return string(b), err
	}
	var body []byte
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return "", err
		}
		n, err := strconv.ParseInt(strings.TrimSpace(line), 16, 32)
		if err != nil {
			return "", fmt.Errorf("chunk size %q", line)
		}
		chunk := make([]byte, n+2)
		if _, err := io.ReadFull(c.br, chunk); err != nil {
			return "", err
		}
		if n == 0 {
			return string(body), nil
		}
		body = append(body, chunk[:n]...)
	}
}

func (c *httpClient) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}
