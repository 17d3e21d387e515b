package harness

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestUsage(t *testing.T) {
	s := startT(t, ServerConfig{Command: []string{testServer}, Flags: []string{"-mode", "serve"}})
	// The connection that checked the server was up may still be open on the server's side for a moment:
	// count once the number of descriptors has settled (two readings 200 ms apart agree).
	var before Usage
	var err error
	for deadline := time.Now().Add(3 * time.Second); ; {
		before, err = s.Usage()
		require.NoError(t, err)
		time.Sleep(200 * time.Millisecond)
		again, err := s.Usage()
		require.NoError(t, err)
		if again.Files == before.Files || time.Now().After(deadline) {
			break
		}
	}
	require.Equal(t, 1, before.Processes)
	require.GreaterOrEqual(t, before.Threads, 1)
	require.Greater(t, before.RSS, int64(100<<10), "a Go server holds more than 100 KiB")
	require.GreaterOrEqual(t, before.Files, 4, "stdin, stdout, stderr and the listener at least")

	// Ten open connections are ten more descriptors in the server.
	var conns []*Conn
	for range 10 {
		c, err := Dial(s.Addr(), time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	for _, c := range conns {
		require.NoError(t, c.SendString("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		_, err := c.ReadResponse(2*time.Second, false)
		require.NoError(t, err)
	}
	after, err := s.Usage()
	require.NoError(t, err)
	byPid, err := ProcessUsage(s.Pid())
	require.NoError(t, err)
	require.Equal(t, 1, byPid.Processes, "the test server has no children")
	require.GreaterOrEqual(t, byPid.Files, before.Files+10)
	require.GreaterOrEqual(t, after.Files, before.Files+10)
	require.GreaterOrEqual(t, after.CPU, before.CPU)

	s.Stop(2 * time.Second)
	_, err = s.Usage()
	require.Error(t, err, "a stopped server has no usage")
}

func TestLimitFiles(t *testing.T) {
	s := startT(t, ServerConfig{Command: []string{testServer}, Flags: []string{"-mode", "serve"}})
	require.NoError(t, s.LimitFiles(100))
	var lim unix.Rlimit
	require.NoError(t, unix.Prlimit(s.Pid(), unix.RLIMIT_NOFILE, nil, &lim))
	require.Equal(t, unix.Rlimit{Cur: 100, Max: 100}, lim)
	s.Stop(2 * time.Second)
	require.Error(t, s.LimitFiles(100), "a stopped server has no process to limit")
}
