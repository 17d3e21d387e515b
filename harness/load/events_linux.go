//go:build linux

package load

import (
	"container/heap"
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// engines are the ways to drive the connections, by name.
var engines = map[string]func(*runner) error{
	"events":     (*runner).runEvents,
	"goroutines": (*runner).runGoroutines,
}

// defaultEngine is the event engine: on a machine whose cores the server
// shares, a goroutine per connection pays the Go scheduler for every response
// (see the package doc).
const defaultEngine = "events"

const (
	loopBuf  = 64 << 10 // the read buffer of an event loop
	wakeTag  = -1       // the event tag of a loop's eventfd
	timerTag = -2       // the event tag of a loop's timerfd

	// yieldEvery is how often a loop yields to the Go scheduler, well
	// within the 10ms after which the runtime deems a goroutine stuck.
	yieldEvery = time.Millisecond
)

// runEvents drives the connections from event loops, one per core, each
// owning a share of them through non-blocking sockets and edge-triggered
// epoll, as wrk does: a round reads whatever arrived, then writes the next
// requests in a burst, which spares the server and the loop a wake-up per
// request.
func (r *runner) runEvents() error {
	ap, err := netip.ParseAddrPort(r.addr)
	if err != nil {
		return fmt.Errorf("load: address %q: %w", r.addr, err)
	}
	// Each loop gets a sockaddr of its own: unix.Connect writes into it.
	domain, ip := unix.AF_INET, ap.Addr().Unmap()
	if !ip.Is4() {
		domain = unix.AF_INET6
	}
	sockaddr := func() unix.Sockaddr {
		if domain == unix.AF_INET {
			return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}
		}
		return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16()}
	}

	// A loop per core, as wrk is run with a thread per core. On two cores
	// shared with the server, a single loop left a third of a core idle:
	// the server and the loop took turns waiting for each other's bursts.
	procs := runtime.GOMAXPROCS(0)
	loops := make([]*loop, min(procs, r.cfg.Conns))
	// Each loop blocks in epoll_wait, a system call. When no P is idle,
	// the runtime hands the P of a thread blocked in a system call to
	// another thread, and the loop has to win one back on every wake-up:
	// a spare P, left idle, spares the loops that handoff.
	defer raiseProcs(len(loops) + 1)()
	defer func() {
		for _, l := range loops {
			if l != nil {
				l.close()
			}
		}
	}()
	for i := range loops {
		if loops[i], err = newLoop(r, domain, sockaddr()); err != nil {
			return err
		}
	}
	for i := range r.cfg.Conns {
		l := loops[i%len(loops)]
		l.conns = append(l.conns, &evConn{session: newSession(r, i, l.t), idx: len(l.conns), fd: -1})
	}
	woken := make(chan struct{})
	stop := context.AfterFunc(r.ctx, func() {
		defer close(woken)
		for _, l := range loops {
			l.wakeUp()
		}
	})
	defer func() {
		if !stop() {
			<-woken // before the loops close their eventfds
		}
	}()

	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Go(l.run)
	}
	wg.Wait()
	for _, l := range loops {
		if l.err != nil {
			return l.err
		}
	}
	return nil
}

// loop is an event loop and the connections it owns.
type loop struct {
	r      *runner
	t      *tally
	ep     int       // the epoll instance
	wake   int       // an eventfd that wakes the loop when the run stops
	tfd    int       // a timerfd for the wake-ups in timers
	armed  time.Time // when tfd will fire (zero: disarmed)
	domain int
	sa     unix.Sockaddr
	conns  []*evConn
	live   int // connections not finished
	buf    []byte
	events []unix.EpollEvent
	ready  []*evConn // connections to pump at the end of the round
	timers timers
	err    error
}

// evConn is a session on a non-blocking socket.
type evConn struct {
	*session
	idx        int // in loop.conns, the tag of its events
	fd         int // -1 when not connected
	connecting bool
	dialStart  time.Time
	pending    []byte    // the unwritten rest of a write
	retryAt    time.Time // when to dial again after a failed dial
	timerAt    time.Time // the current wake-up in loop.timers
	marked     bool      // in loop.ready
	finished   bool
}

func newLoop(r *runner, domain int, sa unix.Sockaddr) (*loop, error) {
	l := &loop{
		r:      r,
		t:      r.newTally(false),
		ep:     -1,
		wake:   -1,
		tfd:    -1,
		domain: domain,
		sa:     sa,
		buf:    make([]byte, loopBuf),
		events: make([]unix.EpollEvent, 256),
	}
	var err error
	if l.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("load: epoll_create1: %w", err)
	}
	if l.wake, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		l.close()
		return nil, fmt.Errorf("load: eventfd: %w", err)
	}
	// Open-loop requests fall due at times finer than epoll_wait's
	// milliseconds: a timerfd wakes the loop on time.
	if l.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		l.close()
		return nil, fmt.Errorf("load: timerfd_create: %w", err)
	}
	for _, fd := range []struct{ fd, tag int }{{l.wake, wakeTag}, {l.tfd, timerTag}} {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd.tag)}
		if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd.fd, &ev); err != nil {
			l.close()
			return nil, fmt.Errorf("load: epoll_ctl: %w", err)
		}
	}
	return l, nil
}

func (l *loop) wakeUp() {
	unix.Write(l.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
}

func (l *loop) close() {
	for _, c := range l.conns {
		l.hangUp(c)
	}
	for _, fd := range []int{l.wake, l.tfd, l.ep} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	l.wake, l.tfd, l.ep = -1, -1, -1
}

func (l *loop) run() {
	l.live = len(l.conns)
	now := time.Now()
	for _, c := range l.conns {
		l.pump(c, now)
	}
	scanEvery := min(max(l.r.cfg.Timeout/10, time.Millisecond), 100*time.Millisecond)
	nextScan := now.Add(scanEvery)
	var pumping []*evConn
	yieldAt := now
	for l.live > 0 && !l.r.stopped() {
		wait, err := l.waitMillis(nextScan)
		if err != nil {
			l.err = err
			return
		}
		k, err := unix.EpollWait(l.ep, l.events, wait)
		if err != nil && err != unix.EINTR {
			l.err = fmt.Errorf("load: epoll_wait: %w", err)
			return
		}
		for _, ev := range l.events[:max(k, 0)] {
			switch ev.Fd {
			case wakeTag:
			case timerTag:
				var expirations [8]byte
				unix.Read(l.tfd, expirations[:])
				l.armed = time.Time{}
			default:
				l.handle(l.conns[ev.Fd], ev.Events)
			}
		}
		now = time.Now()
		// A goroutine that the scheduler has not switched for 10ms
		// looks stuck to the runtime's sysmon, which then takes the
		// loop's P away whenever it finds the loop in epoll_wait, and
		// keeps waking up thousands of times a second to do it again.
		// Yielding now and then shows the loop is alive.
		if !now.Before(yieldAt) {
			runtime.Gosched()
			yieldAt = now.Add(yieldEvery)
		}
		// Connections marked while pumping wait for the next round, so
		// that one that keeps failing cannot hold the loop.
		pumping, l.ready = l.ready, pumping[:0]
		for _, c := range pumping {
			c.marked = false
			l.pump(c, now)
		}
		for len(l.timers) > 0 && !now.Before(l.timers[0].at) {
			t := heap.Pop(&l.timers).(timer)
			if t.c.timerAt.Equal(t.at) {
				t.c.timerAt = time.Time{}
				l.pump(t.c, now)
			}
		}
		if !now.Before(nextScan) {
			l.scan(now)
			nextScan = now.Add(scanEvery)
		}
	}
}

// waitMillis returns how long epoll_wait may block: until the next scan, or
// less if the timerfd is to wake it sooner.
func (l *loop) waitMillis(nextScan time.Time) (int, error) {
	if len(l.ready) > 0 {
		return 0, nil
	}
	if len(l.timers) > 0 {
		next := l.timers[0].at
		now := time.Now()
		if !next.After(now) {
			return 0, nil
		}
		if l.armed.IsZero() || next.Before(l.armed) {
			d := next.Sub(now)
			spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d.Nanoseconds())}
			if err := unix.TimerfdSettime(l.tfd, 0, &spec, nil); err != nil {
				return 0, fmt.Errorf("load: timerfd_settime: %w", err)
			}
			l.armed = next
		}
	}
	d := time.Until(nextScan)
	if d <= 0 {
		return 0, nil
	}
	return int((d + time.Millisecond - 1) / time.Millisecond), nil
}

// handle reacts to the events of one connection; writes wait for pump.
func (l *loop) handle(c *evConn, events uint32) {
	if c.fd < 0 {
		return
	}
	if c.connecting {
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		now := time.Now()
		soErr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil || soErr != 0 {
			l.hangUp(c)
			l.dialFailed(c, now)
			return
		}
		c.connecting = false
		// Stop watching for EPOLLOUT: on an established socket it fires on
		// every ACK that frees buffer space.
		if err := l.watch(unix.EPOLL_CTL_MOD, c, false); err != nil {
			l.hangUp(c)
			l.dialFailed(c, now)
			return
		}
		c.connected()
		l.mark(c)
		return
	}
	if events&unix.EPOLLOUT != 0 && c.pending != nil {
		l.write(c, c.pending)
		if c.fd < 0 {
			return
		}
	}
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		l.read(c, events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0)
	}
}

// read reads what arrived. Edge-triggered epoll reports only new data, so it
// reads until the socket is drained: a short read says so, unless the server
// hung up, when only end of stream (or an error) does.
func (l *loop) read(c *evConn, hup bool) {
	for {
		n, err := unix.Read(c.fd, l.buf)
		now := time.Now()
		switch {
		case n > 0:
			closeConn, perr := c.received(l.buf[:n], now)
			if perr != nil {
				c.fail(perr, KindParse)
			}
			if closeConn {
				l.hangUp(c)
				l.mark(c)
				return
			}
			if n < len(l.buf) && !hup {
				l.mark(c)
				return
			}
		case err == nil: // end of stream
			if err := c.closed(now); err != nil {
				c.fail(err, KindRead)
			}
			l.hangUp(c)
			l.mark(c)
			return
		case err == unix.EAGAIN:
			l.mark(c)
			return
		case err == unix.EINTR:
		default:
			c.fail(os.NewSyscallError("read", err), KindRead)
			l.hangUp(c)
			l.mark(c)
			return
		}
	}
}

// pump gives a connection the chance to dial, write or finish.
func (l *loop) pump(c *evConn, now time.Time) {
	if c.finished || c.connecting || c.pending != nil {
		return
	}
	if l.r.stopped() {
		return
	}
	if c.fd < 0 && l.r.spent() {
		l.finish(c)
		return
	}
	if c.fd < 0 {
		if now.Before(c.retryAt) {
			l.at(c, c.retryAt, now)
			return
		}
		if !l.dial(c, now) {
			return
		}
	}
	n, wake, finished := c.want(now)
	if finished {
		l.finish(c)
		return
	}
	if n > 0 {
		l.write(c, l.r.batch[:n*len(l.r.cfg.Request)])
	}
	if !wake.IsZero() && c.fd >= 0 {
		l.at(c, wake, now)
	}
}

// dial starts connecting and reports whether the connection is ready now.
func (l *loop) dial(c *evConn, now time.Time) bool {
	fd, err := unix.Socket(l.domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		l.dialFailed(c, now)
		return false
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c.fd = fd
	err = unix.Connect(fd, l.sa)
	c.connecting = err == unix.EINPROGRESS
	if (err != nil && !c.connecting) || l.watch(unix.EPOLL_CTL_ADD, c, c.connecting) != nil {
		l.hangUp(c)
		l.dialFailed(c, now)
		return false
	}
	if c.connecting {
		c.dialStart = now
		return false
	}
	c.connected()
	return true
}

// finish closes c for good: it has nothing left to do.
func (l *loop) finish(c *evConn) {
	l.hangUp(c)
	c.finished = true
	l.live--
}

func (l *loop) dialFailed(c *evConn, now time.Time) {
	if c.session.dialFailed() {
		l.finish(c)
		return
	}
	c.retryAt = now.Add(dialPause)
	l.at(c, c.retryAt, now)
}

// watch sets the events epoll reports for c, with EPOLLOUT if out.
func (l *loop) watch(op int, c *evConn, out bool) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(c.idx)}
	if out {
		ev.Events |= unix.EPOLLOUT
	}
	return unix.EpollCtl(l.ep, op, c.fd, &ev)
}

// write writes b, or as much as the socket takes and the rest when epoll
// says it can.
func (l *loop) write(c *evConn, b []byte) {
	for {
		n, err := unix.Write(c.fd, b)
		if err == unix.EINTR {
			continue
		}
		if n == len(b) {
			if c.pending != nil {
				c.pending = nil
				if err := l.watch(unix.EPOLL_CTL_MOD, c, false); err != nil {
					c.fail(err, KindWrite)
					l.hangUp(c)
					l.mark(c)
				}
			}
			return
		}
		if err == nil || err == unix.EAGAIN {
			wasPending := c.pending != nil
			c.pending = b[max(n, 0):]
			if !wasPending {
				if err := l.watch(unix.EPOLL_CTL_MOD, c, true); err != nil {
					c.fail(err, KindWrite)
					l.hangUp(c)
					l.mark(c)
				}
			}
			return
		}
		c.fail(os.NewSyscallError("write", err), KindWrite)
		l.hangUp(c)
		l.mark(c)
		return
	}
}

// scan fails the connections that waited too long for a dial or a response.
func (l *loop) scan(now time.Time) {
	for _, c := range l.conns {
		switch {
		case c.fd < 0:
		case c.connecting && now.Sub(c.dialStart) > l.r.cfg.Timeout:
			l.hangUp(c)
			l.dialFailed(c, now)
		case c.timedOut(now):
			c.fail(os.ErrDeadlineExceeded, KindTimeout)
			l.hangUp(c)
			l.mark(c)
		}
	}
}

// hangUp closes c's socket, if open.
func (l *loop) hangUp(c *evConn) {
	if c.fd < 0 {
		return
	}
	unix.Close(c.fd) // which also takes it out of the epoll set
	c.fd = -1
	c.connecting = false
	c.pending = nil
}

func (l *loop) mark(c *evConn) {
	if !c.marked {
		c.marked = true
		l.ready = append(l.ready, c)
	}
}

// at asks for c to be pumped at t; a time already past waits for the next
// round, so that a wake-up can never keep the loop from epoll.
func (l *loop) at(c *evConn, t, now time.Time) {
	if !t.After(now) {
		l.mark(c)
		return
	}
	if c.timerAt.Equal(t) {
		return
	}
	c.timerAt = t
	heap.Push(&l.timers, timer{t, c})
}

// timers is a min-heap of wake-ups; an entry whose time is no longer its
// connection's timerAt is stale and skipped.
type timers []timer

type timer struct {
	at time.Time
	c  *evConn
}

func (h timers) Len() int           { return len(h) }
func (h timers) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timers) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timers) Push(x any)        { *h = append(*h, x.(timer)) }
func (h *timers) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// procs is what raiseProcs shares between the runs going on at once.
var procs struct {
	sync.Mutex
	runs  int
	saved int // GOMAXPROCS before the first of them
}

// raiseProcs raises GOMAXPROCS to at least n for a run, and returns the function that ends the run's claim:
// the last run to end puts back the value from before the first.
func raiseProcs(n int) (restore func()) {
	procs.Lock()
	defer procs.Unlock()
	if procs.runs == 0 {
		procs.saved = runtime.GOMAXPROCS(0)
	}
	procs.runs++
	if runtime.GOMAXPROCS(0) < n {
		runtime.GOMAXPROCS(n)
	}
	return func() {
		procs.Lock()
		defer procs.Unlock()
		if procs.runs--; procs.runs == 0 && runtime.GOMAXPROCS(0) != procs.saved {
			runtime.GOMAXPROCS(procs.saved)
		}
	}
}
