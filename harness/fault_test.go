package harness

import (
	"bytes"
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTrickleHeaders(t *testing.T) {
	head := Request("GET", "/hello")
	tests := []struct {
		name       string
		handle     func(net.Conn)
		wantClosed int
	}{
		// A server with a 300 ms deadline for the request head closes every slow connection.
		{"server with a header timeout", func(c net.Conn) {
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			readHeads(c, 1)
		}, 4},
		// A server without one keeps them all, and Stop ends them.
		{"server without a timeout", func(c net.Conn) { readHeads(c, 1) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := peer(t, 4, tt.handle)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := TrickleHeaders(ctx, addr, 4, head, 50*time.Millisecond)
			require.NoError(t, err)
			require.Equal(t, 4, s.Len())
			if tt.wantClosed > 0 {
				require.Eventually(t, func() bool { return s.Closed() == tt.wantClosed }, 5*time.Second, 10*time.Millisecond)
			} else {
				time.Sleep(400 * time.Millisecond)
			}
			s.Stop()
			require.Equal(t, tt.wantClosed, s.Closed(), "the connections we close ourselves do not count")
		})
	}
}

func TestTrickleHeadersSendsTheHead(t *testing.T) {
	head := Request("GET", "/")
	got := make(chan []byte, 2)
	addr := peer(t, 2, func(c net.Conn) { got <- readHeads(c, 1) })
	s, err := TrickleHeaders(context.Background(), addr, 2, head, time.Millisecond)
	require.NoError(t, err)
	defer s.Stop()
	require.Equal(t, head, <-got)
	require.Equal(t, head, <-got)
}

func TestTrickleHeadersStopsWithTheContext(t *testing.T) {
	addr := peer(t, 2, func(c net.Conn) { readHeads(c, 1) })
	ctx, cancel := context.WithCancel(context.Background())
	s, err := TrickleHeaders(ctx, addr, 2, Request("GET", "/"), time.Hour)
	require.NoError(t, err)
	cancel()
	done := make(chan struct{})
	go func() { s.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return after the context was cancelled")
	}
}

func TestTrickleHeadersDialFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	_, err = TrickleHeaders(context.Background(), addr, 3, Request("GET", "/"), time.Millisecond)
	require.ErrorContains(t, err, "slowloris: connection 1 of 3: ")
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
}

// A client that never reads makes the server's writes block: the server cannot push 32 MiB through a
// 4 KiB receive window and its own bounded send buffer.
func TestSlowReader(t *testing.T) {
	written := make(chan int, 1)
	addr := peer(t, 1, func(c net.Conn) {
		readHeads(c, 1)
		c.SetWriteDeadline(time.Now().Add(time.Second))
		n, _ := c.Write(make([]byte, 32<<20))
		written <- n
	})
	c, err := SlowReader(addr, Request("GET", "/big"), 4096)
	require.NoError(t, err)
	defer c.Close()
	require.Less(t, <-written, 32<<20)
}

func TestResetMidRequest(t *testing.T) {
	type result struct {
		got []byte
		err error
	}
	done := make(chan result, 1)
	addr := peer(t, 1, func(c net.Conn) {
		var got []byte
		buf := make([]byte, 1024)
		for {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				done <- result{got, err}
				return
			}
		}
	})
	req := Request("GET", "/hello")
	require.NoError(t, ResetMidRequest(addr, req))
	r := <-done
	require.ErrorIs(t, r.err, syscall.ECONNRESET)
	require.Equal(t, req[:len(req)/2], r.got)
}

func TestResetMidResponse(t *testing.T) {
	writeErr := make(chan error, 1)
	addr := peer(t, 1, func(c net.Conn) {
		readHeads(c, 1)
		_, err := c.Write(make([]byte, 64<<20))
		writeErr <- err
	})
	n, err := ResetMidResponse(addr, Request("GET", "/big"), 100<<10, 5*time.Second)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 100<<10)
	werr := <-writeErr
	require.True(t, errors.Is(werr, syscall.ECONNRESET) || errors.Is(werr, syscall.EPIPE), "server's write: %v", werr)
}

func TestResetMidResponseTooShort(t *testing.T) {
	addr := peer(t, 1, func(c net.Conn) {
		readHeads(c, 1)
		c.Write(bytes.Repeat([]byte("x"), 10))
	})
	n, err := ResetMidResponse(addr, Request("GET", "/big"), 100, 5*time.Second)
	require.Equal(t, 10, n)
	require.EqualError(t, err, "reset mid-response: 10 of 100 bytes arrived: the server closed the connection (EOF) before a complete response: did it close instead of answering, or crash?")
}
