package main

import (
	"errors"
	"fmt"
	"log"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"course/chapters/gateway"
	"course/chapters/http1"
	"course/chapters/launch"
	"course/chapters/pool"
)

const (
	// maxOut bounds the output buffered for one connection: beyond it, the loop stops reading the connection
	// and the worker making its response waits (see reply.Flush).
	maxOut = 256 << 10
	// readSize is the size of the one read buffer that every connection shares: a connection owns no buffer
	// while it is idle, which is what makes 10,000 idle connections cheap.
	readSize = 64 << 10
	// maxEvents is how many events one epoll_wait returns at most; more wait for the next turn.
	maxEvents = 256
	// acceptBatch bounds the connections accepted in one turn, so that a storm of them does not starve the
	// connections already open; level-triggered epoll reports the listener again next turn if more wait.
	acceptBatch = 64
	// acceptPause is how long the loop stops accepting when it runs out of file descriptors, as nginx does:
	// the pending connections wait in the backlog instead of waking the loop in a tight loop.
	acceptPause = 100 * time.Millisecond
	// lingerTime and lingerBytes bound a lingering close (see conn.go).
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 4 << 20
)

// loop is the event loop: one thread that owns every socket and every connection's state, and never blocks
// except in epoll_wait. Only the fields under mu are shared, with the pool's workers.
type loop struct {
	cfg *launch.Config
	lim http1.Limits
	gw  gateway.Server
	app gateway.App

	epfd   int // the epoll instance: the set of file descriptors the loop waits on
	lfd    int // the listening socket, -1 when there is none
	wakefd int // an eventfd: written by workers (and on SIGTERM) to wake epoll_wait

	conns   []*conn // the open connections, by file descriptor
	open    int     // how many
	timers  timers
	closing []*conn // connections to close at the end of the turn

	buf    []byte            // the read buffer, shared
	events []unix.EpollEvent // what epoll_wait returned

	acceptAt      time.Time     // while accepting is paused: when to start again
	acceptFailing bool          // accept failed for want of descriptors, and has not succeeded since
	stopping      bool          // shutting down: not accepting, closing connections as they become idle
	stopBy        time.Time     // when to give up on the responses still in flight
	grace         time.Duration // how long responses in flight get to finish after SIGTERM

	pool      *pool.Pool
	maxInPool int // requests the pool can hold: its workers plus its queue
	inPool    int // requests handed to the pool and not finished yet

	mu       sync.Mutex // guards the fields below and reply.posted
	ready    []*reply   // replies with news for the loop
	spare    []*reply   // the other buffer of ready, to swap with
	sleeping bool       // the loop is blocked in epoll_wait (or about to be): a worker must write wakefd
	stop     bool       // the server was told to stop
}

// newLoop makes a loop that serves app on a pool configured by pc. It listens nowhere yet: see listen.
func newLoop(cfg *launch.Config, pc launch.PoolConfig, app gateway.App) (*loop, error) {
	l := &loop{
		cfg: cfg,
		lim: cfg.Limits(),
		// The app runs on several pool workers at once: wsgi.multithread is true. This is the
		// choice the chapter documents (an event loop running the app inline would say false).
		gw:     gateway.Server{Name: "127.0.0.1", MultiThread: true, Errors: os.Stderr},
		app:    app,
		grace:  pc.ShutdownTimeout,
		lfd:    -1,
		wakefd: -1,
		buf:    make([]byte, readSize),
		events: make([]unix.EpollEvent, maxEvents),
	}
	// Go's runtime opens an epoll instance of its own (for its timers) the first time it needs one, which
	// may be the pool's first timer. Make it open now: out of file descriptors later, it could not, and the
	// runtime would stop the program.
	time.AfterFunc(time.Hour, func() {}).Stop()
	var err error
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if l.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		unix.Close(l.epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := l.ctl(unix.EPOLL_CTL_ADD, l.wakefd, unix.EPOLLIN); err != nil {
		unix.Close(l.wakefd)
		unix.Close(l.epfd)
		return nil, err
	}
	workers, queue := max(pc.Workers, 1), max(pc.Queue, 0)
	l.pool = pool.New(pool.Config{Workers: workers, Queue: queue, QueueTimeout: pc.QueueTimeout, RunTimeout: pc.RequestTimeout})
	l.maxInPool = workers + queue
	return l, nil
}

// listen opens the listening socket on addr and watches it.
func (l *loop) listen(addr string) error {
	fd, port, err := listen(addr)
	if err != nil {
		return err
	}
	if err := l.ctl(unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN); err != nil {
		unix.Close(fd)
		return err
	}
	l.lfd = fd
	l.gw.Port = strconv.Itoa(port)
	return nil
}

// wait blocks in epoll_wait until a file descriptor is ready or the nearest deadline, and returns how many
// events it got.
func (l *loop) wait(now time.Time) (int, error) {
	timeout := -1 // no deadline: wait for an event, however long
	if t, ok := l.timers.next(); ok {
		timeout = msUntil(now, t)
	}
	if !l.acceptAt.IsZero() {
		timeout = earliest(timeout, msUntil(now, l.acceptAt))
	}
	if l.stopping {
		timeout = earliest(timeout, msUntil(now, l.stopBy))
	}
	timeout = l.sleep(timeout)
	n, err := unix.EpollWait(l.epfd, l.events, timeout)
	l.awake(timeout)
	if errors.Is(err, unix.EINTR) {
		return 0, nil // a signal: go round again
	}
	if err != nil {
		return 0, fmt.Errorf("epoll_wait: %w", err)
	}
	return n, nil
}

// sleep tells the workers that the loop is going to sleep in epoll_wait for timeout (milliseconds, -1 for no
// limit), so that a worker with news writes the eventfd to wake it (see post in offload.go), and returns the
// timeout to sleep for: 0 when news came since the loop last looked, which no worker will announce again.
func (l *loop) sleep(timeout int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ready) > 0 || l.stop && !l.stopping {
		timeout = 0 // news came since the last look: do not sleep
	}
	l.sleeping = timeout != 0
	return timeout
}

// awake tells the workers that the loop is no longer asleep: it will look at their news before it sleeps again.
func (l *loop) awake(timeout int) {
	if timeout != 0 {
		l.mu.Lock()
		l.sleeping = false
		l.mu.Unlock()
	}
}

// msUntil returns the milliseconds from now to t, rounded up (rounding down would wake the loop a little
// early, to find nothing to do), or 0 if t has passed.
func msUntil(now, t time.Time) int {
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return int(min((d+time.Millisecond-1)/time.Millisecond, 1<<30))
}

// earliest returns the shorter of two epoll_wait timeouts, where -1 is forever.
func earliest(a, b int) int {
	if a < 0 || b >= 0 && b < a {
		return b
	}
	return a
}

// accept accepts the connections waiting in the backlog, up to acceptBatch.
func (l *loop) accept(now time.Time) {
	for range acceptBatch {
		// SOCK_NONBLOCK: reads and writes on the connection return EAGAIN instead of blocking.
		fd, _, err := unix.Accept4(l.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
		case errors.Is(err, unix.EAGAIN):
			return // the backlog is empty
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.ECONNABORTED):
			continue // a signal, or a client that gave up while it waited: next
		case errors.Is(err, unix.EMFILE), errors.Is(err, unix.ENFILE), errors.Is(err, unix.ENOBUFS), errors.Is(err, unix.ENOMEM):
			// Out of file descriptors (or memory). The listener stays readable, so level-triggered epoll
			// would report it again at once, and the loop would spin at 100% CPU without accepting anything.
			// Stop watching it for a while: closing connections frees descriptors meanwhile.
			if !l.acceptFailing { // once, not every acceptPause
				log.Printf("accept: %v: not accepting for a while (%d connections open)", err, l.open)
				l.acceptFailing = true
			}
			l.pauseAccept(now)
			return
		default:
			log.Printf("accept: %v", err)
			return
		}
		l.acceptFailing = false
		// Send small responses at once rather than wait to fill a packet (Nagle's algorithm), as Go's net
		// package and nginx do.
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if err := l.add(fd, now); err != nil {
			log.Printf("accept: %v", err)
			unix.Close(fd)
		}
	}
}

// add starts serving the connected socket fd, which must be non-blocking.
func (l *loop) add(fd int, now time.Time) error {
	c := newConn(fd, l.lim)
	if err := l.ctl(unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN); err != nil {
		return err
	}
	c.events = unix.EPOLLIN
	if fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*conn, fd+1-len(l.conns))...)
	}
	l.conns[fd] = c
	l.open++
	// A new connection has as long to start its request as a kept-alive one has to finish its head.
	l.timers.set(&c.timer, now.Add(l.cfg.HeaderTimeout))
	return nil
}

// pauseAccept stops watching the listener for acceptPause: out of descriptors, the connections waiting in the
// backlog would keep it readable, and level-triggered epoll would report it at every turn. expire resumes.
func (l *loop) pauseAccept(now time.Time) {
	if err := l.ctl(unix.EPOLL_CTL_DEL, l.lfd, 0); err != nil {
		log.Printf("pausing accept: %v", err)
	}
	l.acceptAt = now.Add(acceptPause)
}

// resumeAccept watches the listener again, once an accept pause is over.
func (l *loop) resumeAccept() {
	l.acceptAt = time.Time{}
	if err := l.ctl(unix.EPOLL_CTL_ADD, l.lfd, unix.EPOLLIN); err != nil {
		log.Printf("resuming accept: %v", err)
	}
}

// watch tells epoll what c waits for now, if that changed: to read when it can take a request, to write when
// it has output the socket did not take.
//
// While a request is with the pool, the loop does not read its connection, yet it leaves EPOLLIN on: a client
// waiting for its response sends nothing, so epoll stays quiet, and turning EPOLLIN off and on again would
// cost two epoll_ctl calls per request. Only when epoll reports the connection readable all the same (ignoredIn:
// the client sent more, or closed) does EPOLLIN go off, or level-triggered epoll would report it every turn.
// EPOLLOUT cannot be left on like that: a socket is writable nearly all the time.
func (l *loop) watch(c *conn, ignoredIn bool) {
	if c.closed {
		return
	}
	var events uint32
	if c.wantsRead() || c.events&unix.EPOLLIN != 0 && !ignoredIn {
		events |= unix.EPOLLIN
	}
	if c.unsent() > 0 {
		events |= unix.EPOLLOUT
	}
	if events == c.events {
		return
	}
	if err := l.ctl(unix.EPOLL_CTL_MOD, c.fd, events); err != nil {
		log.Printf("%v", err)
		l.close(c)
		return
	}
	c.events = events
}

// run runs the loop until it has shut down. Each turn:
//
//  1. wait in epoll_wait for I/O or a worker, at most until the nearest deadline;
//  2. handle each ready file descriptor: accept on the listener, read and write on the connections;
//  3. take the news of the workers: response bytes to write, responses finished;
//  4. expire the deadlines that passed;
//  5. close the connections marked for closing.
//
// Epoll is used level-triggered: it reports a socket as long as it is readable (or writable, when asked),
// not only when it becomes so. The loop may then read a little from each socket and come back next turn,
// and may stop watching a socket for a while (a request in the pool, a full output buffer) without losing
// anything. Edge-triggered epoll reports changes only: it saves the system calls that re-arm or re-report,
// but the loop must then drain every socket to EAGAIN each time, or never hear of it again.
func (l *loop) run() error {
	// The loop is one goroutine; pinned to one OS thread, it is also one thread, as an event loop in C is.
	// (Unpinned, the runtime could move it from thread to thread between turns: one at a time all the same.
	// Measured, pinning costs no throughput.)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer l.shutdown()
	for {
		now := time.Now()
		if l.stopping && (l.open == 0 || !now.Before(l.stopBy)) {
			return nil
		}
		n, err := l.wait(now)
		if err != nil {
			return err
		}
		now = time.Now()
		for _, ev := range l.events[:n] {
			switch fd := int(ev.Fd); fd {
			case l.lfd:
				l.accept(now)
			case l.wakefd:
				var b [8]byte
				unix.Read(l.wakefd, b[:]) // resets the counter; the news is in the ready list
			default:
				if c := l.conns[fd]; c != nil && !c.closed {
					l.onEvent(c, ev.Events, now)
				}
			}
		}
		ready, stop := l.takeReady()
		for _, r := range ready {
			l.onReply(r, now)
		}
		if stop && !l.stopping {
			l.beginStop(now)
		}
		l.expire(now)
		l.reap()
	}
}

// onEvent handles what epoll reported for c.
func (l *loop) onEvent(c *conn, events uint32, now time.Time) {
	// An error or a hang-up (a reset, or both directions shut) is reported whether or not it was asked for,
	// and, level-triggered, again every turn until the socket is closed: close it now.
	if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		l.close(c)
		return
	}
	if events&unix.EPOLLOUT != 0 {
		l.write(c, now)
	}
	ignored := false
	if events&unix.EPOLLIN != 0 && !c.closed {
		if c.wantsRead() {
			l.read(c, now)
		} else {
			ignored = true
		}
	}
	l.watch(c, ignored)
}

// onReply takes the news of a worker: response bytes to write, or the end of the response.
func (l *loop) onReply(r *reply, now time.Time) {
	if r.finished {
		return // already seen done: a post that came just after the last take
	}
	c := r.c
	live := !c.closed && c.reply == r
	var done bool
	if live {
		done = r.take(c)
	} else {
		done = r.isDone()
	}
	if done {
		r.finished = true
		l.inPool--
	}
	if !live {
		return
	}
	if done {
		switch {
		case r.ran:
			c.answered = true
			c.keep = r.err == nil && r.res.KeepAlive
		case errors.Is(r.err, pool.ErrRunTimeout) && !r.started:
			l.answer(c, 504, "the application did not answer in time", now)
		case errors.Is(r.err, pool.ErrRunTimeout):
			c.answered, c.keep = true, false // the response is cut short: the close tells the client
		default: // the pool is full, the request waited too long in its queue, or the pool is closing
			l.tooBusy(c, now)
		}
	}
	l.write(c, now)
	l.watch(c, false)
}

// expire handles the deadlines that passed.
func (l *loop) expire(now time.Time) {
	if !l.acceptAt.IsZero() && !now.Before(l.acceptAt) {
		l.resumeAccept()
	}
	for t := l.timers.expired(now); t != nil; t = l.timers.expired(now) {
		// Whatever the deadline (a head or a body too slow to come, an idle connection, a client that does
		// not read its response, the end of a lingering close), the answer is the same: close.
		l.close(t.c)
	}
}

// beginStop starts the shutdown: no more accepting, idle connections closed at once, the others as soon as
// their response is sent (see next), and every connection by stopBy.
func (l *loop) beginStop(now time.Time) {
	log.Printf("shutting down: %d connections open, %d requests in the pool", l.open, l.inPool)
	l.stopping = true
	l.stopBy = now.Add(l.grace)
	if l.lfd >= 0 {
		unix.Close(l.lfd) // also takes it out of the epoll set
		l.lfd = -1
	}
	l.acceptAt = time.Time{}
	for _, c := range l.conns {
		if c != nil && !c.closed && c.state == idle {
			l.close(c)
		}
	}
}

// requestStop asks the loop to shut down. It may be called from any goroutine.
func (l *loop) requestStop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stop = true
	l.wakeLocked()
}

// reap closes the connections marked for closing. Closing them only now, at the end of the turn, keeps
// their descriptor numbers from being reused by an accept in the same turn, while events for the old
// connection may still be in the list being handled.
func (l *loop) reap() {
	for i, c := range l.closing {
		unix.Close(c.fd) // also takes it out of the epoll set
		l.conns[c.fd] = nil
		l.open--
		l.closing[i] = nil
	}
	l.closing = l.closing[:0]
}

// shutdown closes everything the loop has open.
func (l *loop) shutdown() {
	for _, c := range l.conns {
		if c != nil && !c.closed {
			l.close(c)
		}
	}
	l.reap()
	if l.lfd >= 0 {
		unix.Close(l.lfd)
		l.lfd = -1
	}
	l.mu.Lock()
	unix.Close(l.wakefd) // under mu: a worker writes it under mu, and must not write a closed (or reused) number
	l.wakefd = -1
	l.mu.Unlock()
	unix.Close(l.epfd)
}

// ctl adds, changes or removes what epoll watches on fd.
func (l *loop) ctl(op, fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, op, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl on descriptor %d: %w", fd, err)
	}
	return nil
}
