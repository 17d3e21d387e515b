package main

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Step 8: deadlines. README: "Step 8: deadlines". wait is timed on the real clock; expire gets the time of the
// test's choice; then the loop runs, with short deadlines.

// timedWait calls l.wait at the real now and returns how long it slept, failing the test beyond 3 s.
func timedWait(t *testing.T, l *loop) (time.Duration, bool) {
	t.Helper()
	began := time.Now()
	var err error
	if !within(t, 3*time.Second, "wait, with a deadline 100 ms away", func() { _, err = l.wait(began) }) {
		return 0, false
	}
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return time.Since(began), true
}

func TestStep8Deadlines(t *testing.T) {
	const soon = 100 * time.Millisecond
	waits := []struct {
		rule string
		set  func(l *loop, c *conn, now time.Time)
	}{
		{"wait sleeps until the nearest timer", func(l *loop, c *conn, now time.Time) {
			l.timers.set(&c.timer, now.Add(soon))
		}},
		{"wait sleeps until the end of an accept pause", func(l *loop, c *conn, now time.Time) {
			l.timers.stop(&c.timer)
			l.acceptAt = now.Add(soon)
		}},
		{"wait sleeps until l.stopBy, while the server stops", func(l *loop, c *conn, now time.Time) {
			l.timers.stop(&c.timer)
			l.stopping, l.stopBy = true, now.Add(soon)
		}},
		{"wait sleeps until the earliest of them", func(l *loop, c *conn, now time.Time) {
			l.timers.set(&c.timer, now.Add(10*time.Second))
			l.acceptAt = now.Add(soon)
			l.stopping, l.stopBy = true, now.Add(20*time.Second)
		}},
	}
	for _, tt := range waits {
		t.Run(tt.rule, func(t *testing.T) {
			l := newTestLoop(t, setup{})
			c, _ := pair(t, l, t0)
			tt.set(l, c, time.Now())
			slept, ok := timedWait(t, l)
			if !ok {
				return
			}
			if slept < soon*8/10 || slept > 2*time.Second {
				t.Errorf("with the nearest deadline %v away, wait returned after %v; want about %v: epoll_wait's timeout is the time until the nearest deadline (msUntil, earliest)", soon, slept.Round(time.Millisecond), soon)
			}
		})
	}

	t.Run("expire closes the connections whose deadline has come, and only those", func(t *testing.T) {
		l := newTestLoop(t, setup{})
		var cs []*conn
		for i := range 3 {
			c, _ := pair(t, l, t0)
			l.timers.set(&c.timer, t0.Add(time.Duration(i+1)*time.Second))
			cs = append(cs, c)
		}
		if !within(t, 2*time.Second, "expire", func() { l.expire(t0.Add(2 * time.Second)) }) {
			return
		}
		if !cs[0].closed || !cs[1].closed || cs[2].closed {
			t.Errorf("at t0+2s, with deadlines at t0+1s, +2s, +3s, the connections are closed: %v, %v, %v; want true, true, false", cs[0].closed, cs[1].closed, cs[2].closed)
		}
	})

	t.Run("expire ends an accept pause that is over: the listener is watched again", func(t *testing.T) {
		l := newTestLoop(t, setup{})
		listening(t, l)
		l.pauseAccept(t0)
		if !within(t, 2*time.Second, "expire", func() { l.expire(t0.Add(acceptPause / 2)) }) {
			return
		}
		if l.acceptAt.IsZero() {
			t.Fatal("half-way through an accept pause, expire ended it")
		}
		if !within(t, 2*time.Second, "expire", func() { l.expire(t0.Add(acceptPause)) }) {
			return
		}
		if !l.acceptAt.IsZero() || l.ctl(unix.EPOLL_CTL_MOD, l.lfd, unix.EPOLLIN) != nil {
			t.Errorf("at the end of an accept pause, l.acceptAt is %v, and the listener is not in the epoll set; want the pause over: resumeAccept", l.acceptAt)
		}
	})

	const d = 300 * time.Millisecond
	short := config()
	short.HeaderTimeout, short.IdleTimeout, short.BodyTimeout, short.WriteTimeout = d, d, d, d
	closes := []struct {
		rule string
		do   func(p *peer)
	}{
		{"a new connection that sends nothing is closed at -header-timeout", func(p *peer) {}},
		{"an idle connection is closed at -idle-timeout", func(p *peer) {
			p.send(get("/hello"))
			p.response()
		}},
		{"a head that trickles in is closed at -header-timeout from its first byte", func(p *peer) {
			for _, b := range "GET /hello HTTP/1.1\r\nHost: test\r\nX-Slow: " { // a byte every 50 ms
				p.f.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := p.f.WriteString(string(b)); err != nil {
					return // closed
				}
				time.Sleep(d / 6)
			}
		}},
		{"a body that stops coming is closed at -body-timeout", func(p *peer) {
			p.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nonly ten b")
		}},
	}
	for _, tt := range closes {
		t.Run(tt.rule, func(t *testing.T) {
			_, ps := start(t, setup{cfg: short}, false, 1)
			began := time.Now()
			tt.do(ps[0])
			ps[0].expectClosed(10 * d)
			if took := time.Since(began); took < d*9/10 {
				t.Errorf("closed after %v, before the deadline of %v", took.Round(time.Millisecond), d)
			}
		})
	}

	t.Run("a client that stops taking its response is closed at -write-timeout", func(t *testing.T) {
		var pulled chunkCounter
		cfg := config()
		cfg.WriteTimeout = 500 * time.Millisecond
		_, ps := start(t, setup{cfg: cfg, app: pulled.app(64 << 10)}, false, 1)
		ps[0].send(get("/endless"))
		pulled.waitStable(t)
		time.Sleep(cfg.WriteTimeout)
		ps[0].f.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := ps[0].br.WriteTo(discard{}); err != nil && !strings.Contains(err.Error(), "reset") {
			t.Errorf("a client that read nothing for -write-timeout was not closed within 5 s: %v", err)
		}
	})

	t.Run("out of descriptors: the loop pauses accepting, without spinning, and accepts again once some are free", func(t *testing.T) {
		const clients = 30
		srv, _ := start(t, setup{pool: poolOf(8, 64)}, true, 0)
		warm := dial(t, srv.addr) // the runtime's poller opens its descriptors on first use: before the limit
		warm.send(get("/hello"))
		warm.response()

		sa, domain, err := sockaddr(srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		var ps []*peer
		for range clients {
			fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, newPeer(t, fd))
		}
		var old unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
			t.Fatal(err)
		}
		low := old
		low.Cur = lowestFree(t) + 5 // room for 5 more descriptors only
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
			t.Fatal(err)
		}
		restored := false
		restore := func() {
			if !restored {
				unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
				restored = true
			}
		}
		t.Cleanup(restore)
		for _, p := range ps {
			if err := unix.Connect(p.fd, sa); err != nil && err != unix.EINPROGRESS {
				t.Fatal(err)
			}
			if err := awaitConnect(p.fd); err != nil { // the kernel completes it: it waits in the backlog
				t.Fatal(err)
			}
			p.send(get("/hello"))
		}
		time.Sleep(500 * time.Millisecond) // for the answers of those accepted
		var served, waiting []*peer
		for _, p := range ps {
			if r, err := p.tryResponse(20*time.Millisecond, false); err == nil && r.status == 200 {
				served = append(served, p)
			} else {
				waiting = append(waiting, p)
			}
		}
		if len(served) == 0 || len(waiting) == 0 {
			t.Fatalf("with room for 5 more descriptors, %d connections were served and %d wait; want some of each", len(served), len(waiting))
		}
		cpu := cpuTime(t)
		time.Sleep(time.Second)
		if used := cpuTime(t) - cpu; used > 300*time.Millisecond {
			t.Errorf("out of descriptors, with connections waiting, the process used %v of CPU in 1s: the loop spins (README: Running out of file descriptors)", used)
		}
		for _, p := range served {
			p.f.Close() // frees the server's descriptors once it reads the close
		}
		restore()
		for _, p := range waiting {
			if r, err := p.tryResponse(5*time.Second, false); err != nil || r.status != 200 {
				t.Fatalf("a connection that waited in the backlog got %d, %v; want 200 once descriptors are free: expire resumes accepting", r.status, err)
			}
		}
	})
}

// cpuTime returns the CPU time this process has used.
func cpuTime(t *testing.T) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// discard is an io.Writer that drops everything.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
