package main

import (
	"bytes"
	"errors"
	"log"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Step 2: accepting. README: "Step 2: accepting".

// backlog connects n clients to addr; the kernel completes each connection, which waits in the backlog.
func backlog(t *testing.T, addr string, n int) []*peer {
	t.Helper()
	ps := make([]*peer, n)
	for i := range ps {
		ps[i] = dial(t, addr)
	}
	time.Sleep(20 * time.Millisecond) // the last handshakes complete
	return ps
}

// accepted returns the connections open in l.
func accepted(l *loop) []*conn {
	var cs []*conn
	for _, c := range l.conns {
		if c != nil && !c.closed {
			cs = append(cs, c)
		}
	}
	return cs
}

// acceptOnce calls l.accept(now), failing the test if it does not return within 2 s.
func acceptOnce(t *testing.T, l *loop, now time.Time) bool {
	t.Helper()
	return within(t, 2*time.Second, "accept", func() { l.accept(now) })
}

// capturedLog sends the log to a buffer until the test ends, and returns the buffer.
func capturedLog(t *testing.T) *bytes.Buffer {
	var buf bytes.Buffer
	log.SetOutput(&buf)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	return &buf
}

// lowestFree returns the lowest descriptor number this process does not use, the one a new descriptor gets: a
// limit on open files of that number leaves no room for a new one.
func lowestFree(t *testing.T) uint64 {
	fd, err := unix.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	return uint64(fd)
}

// heapInUse returns the bytes of live Go heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

func TestStep2Accept(t *testing.T) {
	tests := []struct {
		rule  string
		check func(t *testing.T, l *loop, addr string)
	}{
		{"accept takes the connections waiting in the backlog, and add keeps each, idle, in l.conns by descriptor", func(t *testing.T, l *loop, addr string) {
			backlog(t, addr, 3)
			if !acceptOnce(t, l, t0) {
				return
			}
			cs := accepted(l)
			if len(cs) != 3 || l.open != 3 {
				t.Fatalf("after accept with 3 connections waiting, l.conns holds %d and l.open is %d; want 3 and 3", len(cs), l.open)
			}
			for _, c := range cs {
				if c.state != idle {
					t.Errorf("connection %d is in state %s; want idle, waiting for its first request", c.fd, stateName(c.state))
				}
				if l.conns[c.fd] != c {
					t.Errorf("a connection of descriptor %d is kept at another index of l.conns: the loop finds a connection by the descriptor epoll reports", c.fd)
				}
			}
		}},
		{"each socket accepted is non-blocking, close-on-exec, and sends small responses at once (TCP_NODELAY)", func(t *testing.T, l *loop, addr string) {
			backlog(t, addr, 1)
			if !acceptOnce(t, l, t0) {
				return
			}
			cs := accepted(l)
			if len(cs) != 1 {
				t.Fatalf("%d connections accepted; want 1", len(cs))
			}
			fd := cs[0].fd
			if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
				t.Errorf("the accepted socket is blocking (%v): a read or write with nothing to do would stop the loop; make it non-blocking in accept4 itself (SOCK_NONBLOCK)", err)
			}
			if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
				t.Errorf("the accepted socket is not close-on-exec (%v): a program the server starts would inherit it (SOCK_CLOEXEC)", err)
			}
			if v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY); err != nil || v == 0 {
				t.Errorf("TCP_NODELAY is off on the accepted socket (%v): Nagle's algorithm holds a small response back until the last one is acknowledged", err)
			}
		}},
		{"add puts each connection in the epoll set for reading: epoll reports the client's bytes", func(t *testing.T, l *loop, addr string) {
			p := backlog(t, addr, 1)[0]
			if !acceptOnce(t, l, t0) {
				return
			}
			cs := accepted(l)
			if len(cs) != 1 {
				t.Fatalf("%d connections accepted; want 1", len(cs))
			}
			if cs[0].events != unix.EPOLLIN {
				t.Errorf("c.events is %s; want EPOLLIN, what epoll watches on the connection", eventNames(cs[0].events))
			}
			p.send("G")
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if watched(t, l, cs[0].fd)&unix.EPOLLIN != 0 {
					return
				}
			}
			t.Error("the client sent a byte, and epoll did not report its connection readable within 2s: add the descriptor to the epoll set, for EPOLLIN")
		}},
		{"at most acceptBatch connections in one call: a burst must not hold the loop; the next turn takes the rest", func(t *testing.T, l *loop, addr string) {
			backlog(t, addr, acceptBatch+6)
			if !acceptOnce(t, l, t0) {
				return
			}
			if n := len(accepted(l)); n != acceptBatch {
				t.Fatalf("accept took %d of %d waiting connections in one call; want acceptBatch, %d", n, acceptBatch+6, acceptBatch)
			}
			if !acceptOnce(t, l, t0) {
				return
			}
			if n := len(accepted(l)); n != acceptBatch+6 {
				t.Errorf("after a second call, %d connections are accepted; want all %d", n, acceptBatch+6)
			}
		}},
		{"an empty backlog (EAGAIN) ends accept at once", func(t *testing.T, l *loop, addr string) {
			if acceptOnce(t, l, t0) && len(accepted(l)) != 0 {
				t.Errorf("accept with no connection waiting added %d connections", len(accepted(l)))
			}
		}},
		{"a new connection gets the header deadline: -header-timeout from now to send its request", func(t *testing.T, l *loop, addr string) {
			backlog(t, addr, 1)
			if !acceptOnce(t, l, t0) {
				return
			}
			cs := accepted(l)
			if len(cs) != 1 {
				t.Fatalf("%d connections accepted; want 1", len(cs))
			}
			if c := cs[0]; c.timer.index < 0 || !c.timer.when.Equal(t0.Add(l.cfg.HeaderTimeout)) {
				t.Errorf("the new connection's timer is %s; want set to now + l.cfg.HeaderTimeout (%v): a client that connects and sends nothing must not hold its connection for good (README: Timers)", timerState(c), t0.Add(l.cfg.HeaderTimeout))
			}
		}},
		{"out of descriptors (EMFILE): accept pauses accepting instead of retrying at once, and logs it once", func(t *testing.T, l *loop, addr string) {
			logged := capturedLog(t)
			p := backlog(t, addr, 1)[0]
			var old unix.Rlimit
			if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
				t.Fatal(err)
			}
			low := old
			low.Cur = lowestFree(t)
			if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
				t.Fatal(err)
			}
			ok := acceptOnce(t, l, t0)
			if ok {
				l.resumeAccept() // as expire does when the pause is over: accept4 fails again
				ok = acceptOnce(t, l, t0.Add(acceptPause))
			}
			if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			if n := len(accepted(l)); n != 0 {
				t.Fatalf("%d connections accepted with no descriptor free", n)
			}
			if !l.acceptAt.Equal(t0.Add(2 * acceptPause)) {
				t.Errorf("l.acceptAt is %v; want now + acceptPause: out of descriptors, call pauseAccept and return, or level-triggered epoll reports the listener at once, and the loop spins (README: Running out of file descriptors)", l.acceptAt)
			}
			if err := l.ctl(unix.EPOLL_CTL_MOD, l.lfd, unix.EPOLLIN); !errors.Is(err, unix.ENOENT) {
				t.Errorf("the listener is still in the epoll set during the pause (epoll_ctl says %v): pauseAccept takes it out", err)
			}
			if n := strings.Count(logged.String(), "too many open files"); n != 1 {
				t.Errorf("the log says %d times that accept failed with EMFILE, in two failing calls; want once, when accepting starts failing (l.acceptFailing):\n%s", n, logged)
			}
			l.resumeAccept()
			if !acceptOnce(t, l, t0.Add(3*acceptPause)) {
				return
			}
			if n := len(accepted(l)); n != 1 {
				t.Errorf("with descriptors free again, accept took %d connections; want the 1 that waited in the backlog", n)
			}
			p.send("x") // the client is still connected
		}},
		{"an accepted connection holds no buffer: 2,000 cost under 1 KiB of heap each", func(t *testing.T, l *loop, addr string) {
			n := 2000
			var lim unix.Rlimit
			if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
				t.Fatal(err)
			}
			if room := int(lim.Cur)/2 - 100; n > room { // a client and a server descriptor each, in this one process
				n = room
			}
			if n < 200 {
				t.Skipf("the limit on open files (ulimit -n) is %d: too low to measure", lim.Cur)
			}
			var fds []int // bare descriptors, which add next to nothing to the heap measured
			t.Cleanup(func() {
				for _, fd := range fds {
					unix.Close(fd)
				}
			})
			before := heapInUse()
			for len(fds) < n {
				for range min(acceptBatch, n-len(fds)) {
					fd, err := dialFD(addr)
					if err != nil {
						t.Fatalf("connection %d: %v", len(fds)+1, err)
					}
					fds = append(fds, fd)
				}
				if !acceptOnce(t, l, t0) {
					return
				}
			}
			per := float64(heapInUse()-before) / float64(n)
			if len(accepted(l)) != n {
				t.Fatalf("%d of %d connections accepted", len(accepted(l)), n)
			}
			if per > 1024 {
				t.Errorf("%d connections took %.0f bytes of Go heap each, once accepted; want under 1 KiB: an idle connection owns no buffer (the loop reads into one that all share)", n, per)
			}
		}},
		{"add returns epoll_ctl's error, and keeps nothing of the connection", func(t *testing.T, l *loop, addr string) {
			f, err := os.CreateTemp(t.TempDir(), "file")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fd := int(f.Fd()) // a regular file: epoll refuses it (EPERM)
			if err := l.add(fd, t0); err == nil {
				t.Fatal("add on a regular file, which epoll cannot watch, returned no error")
			}
			if l.open != 0 || fd < len(l.conns) && l.conns[fd] != nil {
				t.Errorf("add failed, and kept the connection all the same (l.open %d): accept closes its descriptor, which may be reused at once", l.open)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			l := newTestLoop(t, setup{})
			tt.check(t, l, listening(t, l))
		})
	}
}

// timerState describes the timer of c for a failure message.
func timerState(c *conn) string {
	if c.timer.index < 0 {
		return "not set"
	}
	return "set to " + c.timer.when.String()
}
