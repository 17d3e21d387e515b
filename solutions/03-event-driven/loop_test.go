package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

var idleConns = flag.Int("idle-conns", 2000, "idle keep-alive connections that TestIdleMemory opens")

// TestIdleMemory opens many idle keep-alive connections (each has made one request) and measures what they
// cost the server: Go heap per connection, since the kernel's socket buffers are not the server's to save.
// The clients are bare descriptors, so that they add next to nothing to the heap measured.
//
//	go test -run TestIdleMemory -v -idle-conns 9000 ./solutions/03-event-driven
func TestIdleMemory(t *testing.T) {
	var lim unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &lim))
	n := *idleConns
	if room := int(lim.Cur)/2 - 100; n > room { // a client and a server descriptor each, in this one process
		t.Logf("RLIMIT_NOFILE is %d: opening %d connections, not %d", lim.Cur, room, n)
		n = room
	}
	if n < 100 {
		t.Skipf("RLIMIT_NOFILE is %d: too low to measure", lim.Cur)
	}
	s, _ := start(t, options{listen: true})
	sa, _, err := sockaddr(s.addr())
	require.NoError(t, err)
	fds := make([]int, 0, n)
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	exchange := func() int {
		fd, err := rawExchange(sa, get("/hello"))
		require.NoError(t, err, "connection %d", len(fds)+1)
		return fd
	}
	fds = append(fds, exchange()) // the server's first request allocates what every request shares

	before := heapInUse()
	rssBefore := statusKB(t, "VmRSS")
	for len(fds) < n {
		fds = append(fds, exchange())
	}
	after := heapInUse()
	rssAfter := statusKB(t, "VmRSS")
	perConn := float64(after-before) / float64(n-1)
	t.Logf("%d idle keep-alive connections: Go heap %+.0f KiB (%.0f bytes each), VmRSS %+d KiB (%.0f bytes each), %d threads",
		n, float64(after-before)/1024, perConn, rssAfter-rssBefore, float64(rssAfter-rssBefore)*1024/float64(n-1), statusKB(t, "Threads"))
	require.Less(t, perConn, 1024.0, "Go heap per idle connection")
	require.Less(t, statusKB(t, "Threads"), int64(40), "threads of a process with one event loop and a small pool")

	// With all those connections open, a new one is served at once.
	t0 := time.Now()
	fds = append(fds, exchange())
	require.Less(t, time.Since(t0), time.Second)
}

// heapInUse returns the bytes of live Go heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// statusKB returns a numeric field of /proc/self/status ("VmRSS", in KiB, or "Threads").
func statusKB(t *testing.T, field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// rawExchange connects a blocking socket to sa, sends req and reads until the body of a /hello response,
// with a 5 s timeout; it returns the open descriptor.
func rawExchange(sa unix.Sockaddr, req string) (int, error) {
	// Connected without blocking (connect, which a signal of Go's runtime cannot leave half done), then made
	// blocking for the exchange.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := connect(fd, sa); err != nil {
		unix.Close(fd)
		return -1, err
	}
	unix.SetNonblock(fd, false)
	tv := unix.Timeval{Sec: 5}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	_, err = unix.Write(fd, []byte(req))
	for errors.Is(err, unix.EINTR) {
		_, err = unix.Write(fd, []byte(req))
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("write: %w", err)
	}
	var got []byte
	buf := make([]byte, 512)
	for !bytes.HasSuffix(got, []byte("Hello, World!\n")) {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			unix.Close(fd)
			return -1, fmt.Errorf("read: %v after %q", err, got)
		}
		got = append(got, buf[:n]...)
	}
	return fd, nil
}

// TestOutOfDescriptors lowers the limit on open files so that the server runs out of them with connections
// waiting in the backlog. It must not spin (the listener stays readable all along) and must not die, and
// must accept the waiting connections once descriptors are free again.
func TestOutOfDescriptors(t *testing.T) {
	const clients = 30
	s, _ := start(t, options{listen: true, pool: poolConfig(8, 64)})
	// A first exchange, before the limit is lowered: the runtime's poller opens its descriptors on first use.
	warm := dial(t, s.addr())
	warm.send(get("/hello"))
	warm.response()

	sa, domain, err := sockaddr(s.addr())
	require.NoError(t, err)
	var cs []*client
	for range clients {
		fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err)
		cs = append(cs, newClient(t, fd))
	}

	// Room for 5 more descriptors only.
	var old unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &old))
	low := old
	low.Cur = uint64(limitFor(t, 5))
	require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &low))
	restored := false
	restore := func() {
		if !restored {
			require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &old))
			restored = true
		}
	}
	t.Cleanup(restore)

	for _, c := range cs {
		require.NoError(t, connect(c.fd, sa)) // the kernel completes it: the connection waits in the backlog
		c.send(get("/hello"))
	}
	time.Sleep(500 * time.Millisecond) // for the answers of those accepted to arrive
	var served, waiting []*client
	for _, c := range cs {
		if r, err := c.tryResponse(20*time.Millisecond, false); err == nil {
			require.Equal(t, 200, r.Status)
			served = append(served, c)
		} else {
			waiting = append(waiting, c)
		}
	}
	t.Logf("with room for 5 more descriptors: %d connections served, %d waiting", len(served), len(waiting))
	require.NotEmpty(t, served)
	require.NotEmpty(t, waiting)

	cpu := cpuTime(t)
	time.Sleep(time.Second)
	used := cpuTime(t) - cpu
	t.Logf("CPU used in 1s while out of descriptors: %v", used)
	require.Less(t, used, 300*time.Millisecond, "the loop spins while it cannot accept")

	for _, c := range served {
		c.f.Close() // frees the server's descriptors once it reads the close
	}
	restore()
	for _, c := range waiting {
		r, err := c.tryResponse(5*time.Second, false)
		require.NoError(t, err, "a connection that waited in the backlog")
		require.Equal(t, 200, r.Status)
	}
}

// limitFor returns the limit on open files that leaves room for exactly free more descriptors: a new one
// takes the lowest free number, and must be under the limit.
func limitFor(t *testing.T, free int) int {
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	open := map[int]bool{}
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			open[n] = true
		}
	}
	for limit := 0; ; limit++ {
		if !open[limit] {
			if free == 0 {
				return limit
			}
			free--
		}
	}
}

// cpuTime returns the CPU time this process has used.
func cpuTime(t *testing.T) time.Duration {
	var ru unix.Rusage
	require.NoError(t, unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestStreaming checks that a streamed body goes out chunk by chunk, as the app makes it, not at the end.
func TestStreaming(t *testing.T) {
	_, cs := start(t, options{clients: 1})
	c := cs[0]
	c.send(get("/stream?chunks=3&bytes=4&ms=200"))
	c.f.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.br.ReadString('\n')
	require.NoError(t, err)
	first := time.Now()
	r, err := c.readRest(response{Status: 200}, false)
	require.NoError(t, err)
	require.Equal(t, "abcdefghijkl", r.Body)
	require.GreaterOrEqual(t, time.Since(first), 300*time.Millisecond, "the headers came with the last chunk")
}

// TestClientGoesAway resets a connection in the middle of a large response: the server closes it, the
// worker stops pulling the app's body (and closes it), and the server goes on.
func TestClientGoesAway(t *testing.T) {
	_, cs := start(t, options{clients: 2})
	c, other := cs[0], cs[1]
	c.send(get("/big?bytes=1000000000"))
	c.f.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.br.Peek(1000)
	require.NoError(t, err)
	c.f.Close()

	for deadline := time.Now().Add(5 * time.Second); ; {
		other.send(get("/stats"))
		r := other.response()
		require.Equal(t, 200, r.Status)
		if strings.Contains(r.Body, `"inflight":0`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app's body was not closed 5s after the client went away: %s", r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestListenAddress checks the addresses the server accepts without a resolver.
func TestListenAddress(t *testing.T) {
	tests := []struct {
		addr   string
		domain int
		err    bool
	}{
		{"127.0.0.1:8080", unix.AF_INET, false},
		{"localhost:0", unix.AF_INET, false},
		{":80", unix.AF_INET, false},
		{"[::1]:8080", unix.AF_INET6, false},
		{"example.com:80", 0, true},
		{"127.0.0.1", 0, true},
		{"127.0.0.1:http", 0, true},
		{"127.0.0.1:70000", 0, true},
	}
	for _, tt := range tests {
		_, domain, err := sockaddr(tt.addr)
		if tt.err {
			require.Error(t, err, tt.addr)
			continue
		}
		require.NoError(t, err, tt.addr)
		require.Equal(t, tt.domain, domain, tt.addr)
	}

	fd, port, err := listen("127.0.0.1:0")
	require.NoError(t, err)
	defer unix.Close(fd)
	require.NotZero(t, port)
	_, _, err = listen("127.0.0.1:" + strconv.Itoa(port))
	require.ErrorIs(t, err, unix.EADDRINUSE, "a second listener on the same port")
}
