package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAnswersEveryHead sends request heads whole, pipelined and cut anywhere, and expects one answer each.
func TestAnswersEveryHead(t *testing.T) {
	lfd, addr, err := listen("127.0.0.1:0")
	require.NoError(t, err)
	l, err := newLoop(lfd)
	require.NoError(t, err)
	go l.run()

	head := "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name   string
		writes []string
		heads  int
	}{
		{"one head", []string{head}, 1},
		{"pipelined", []string{head + head + head}, 3},
		{"cut in the end of the head", []string{head[:len(head)-3], head[len(head)-3:]}, 1},
		{"cut between CR and LF", []string{"GET / HTTP/1.1\r\nHost: x\r", "\n\r\n"}, 1},
		{"byte at a time", strings.Split(head, ""), 1},
		{"a lone CR inside", []string{"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer conn.Close()
			for _, w := range tt.writes {
				_, err := io.WriteString(conn, w)
				require.NoError(t, err)
				time.Sleep(time.Millisecond)
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(conn)
			for i := range tt.heads {
				res, err := http.ReadResponse(br, nil)
				require.NoError(t, err, "answer %d of %d", i+1, tt.heads)
				body, err := io.ReadAll(res.Body)
				require.NoError(t, err)
				require.Equal(t, "Hello, World!\n", string(body))
				require.NotEmpty(t, res.Header.Get("Date"))
			}
			conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			_, err = br.ReadByte()
			require.Error(t, err, "no answer beyond the %d heads sent", tt.heads)
		})
	}
}

func TestRefusesOtherAddresses(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "10.0.0.1:80", "localhost:80", "127.0.0.1", "127.0.0.1:99999"} {
		_, _, err := listen(addr)
		require.Error(t, err, addr)
	}
}

// TestCountHeads cuts request heads at every byte, as reads may, and counts their ends.
func TestCountHeads(t *testing.T) {
	for _, stream := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\rb\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\r\n\r\n\r\n\r\n",
	} {
		want, _ := countHeads(0, []byte(stream))
		require.Equal(t, strings.Count(stream, "\r\n\r\n"), want, "%q in one read", stream)
		for cut := range len(stream) + 1 {
			a, m := countHeads(0, []byte(stream[:cut]))
			b, m := countHeads(m, []byte(stream[cut:]))
			require.Equal(t, want, a+b, "%q cut after %d bytes", stream, cut)
			require.Zero(t, m, "%q ends with a whole head", stream)
		}
	}
}
