package main

import (
	"encoding/binary"
	"errors"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Step 1: the epoll set. README: "Step 1: the epoll set".

// waiting runs wait in a goroutine of its own, on an OS thread of its own, and returns the thread's id and a
// channel that gets wait's results.
func waiting(l *loop, now time.Time) (tid int, done <-chan waited) {
	ch := make(chan waited, 1)
	tids := make(chan int, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		n, err := l.wait(now)
		ch <- waited{n, err}
	}()
	return <-tids, ch
}

// waited is what wait returned.
type waited struct {
	n   int
	err error
}

// ring writes the eventfd of l, as a worker with news does.
func ring(t *testing.T, l *loop) {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	if _, err := unix.Write(l.wakefd, one[:]); err != nil {
		t.Fatal(err)
	}
}

// reported reports whether the first n events of l.events include fd with EPOLLIN.
func reported(l *loop, n, fd int) bool {
	for _, ev := range l.events[:n] {
		if int(ev.Fd) == fd && ev.Events&unix.EPOLLIN != 0 {
			return true
		}
	}
	return false
}

func TestStep1Epoll(t *testing.T) {
	tests := []struct {
		rule  string
		check func(t *testing.T, l *loop)
	}{
		{"listen opens the socket, keeps it in l.lfd and its port in l.gw.Port", func(t *testing.T, l *loop) {
			listening(t, l)
			if l.lfd < 0 {
				t.Fatalf("l.lfd is %d after listen: keep the listening socket's descriptor there", l.lfd)
			}
			sa, err := unix.Getsockname(l.lfd)
			if err != nil {
				t.Fatalf("l.lfd (%d) is not a socket: %v", l.lfd, err)
			}
			in4, ok := sa.(*unix.SockaddrInet4)
			if !ok || strconv.Itoa(in4.Port) != l.gw.Port {
				t.Errorf("l.gw.Port is %q, but the socket l.lfd is bound to %v: the app is told the port in SERVER_PORT", l.gw.Port, sa)
			}
		}},
		{"listen adds the socket to the epoll set: epoll reports it readable when a client connects", func(t *testing.T, l *loop) {
			addr := listening(t, l)
			dial(t, addr)
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if watched(t, l, l.lfd)&unix.EPOLLIN != 0 {
					return
				}
			}
			t.Error("a client connected, and epoll_wait on l.epfd did not report the listener readable within 2s: add l.lfd to the epoll set, for EPOLLIN (ctl)")
		}},
		{"a port in use: listen returns the error", func(t *testing.T, l *loop) {
			fd, port, err := listen("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := l.listen("127.0.0.1:" + strconv.Itoa(port)); err == nil {
				t.Errorf("listen on port %d, in use, returned no error", port)
			}
		}},
		{"wait returns the ready descriptors in l.events, and how many", func(t *testing.T, l *loop) {
			addr := listening(t, l)
			dial(t, addr)
			ring(t, l)
			time.Sleep(50 * time.Millisecond) // the connection reaches the backlog
			var got waited
			if !within(t, 2*time.Second, "wait, with the listener and the eventfd ready", func() { got.n, got.err = l.wait(t0) }) {
				return
			}
			if got.err != nil {
				t.Fatalf("wait returned the error %v", got.err)
			}
			if got.n != 2 || !reported(l, got.n, l.lfd) || !reported(l, got.n, l.wakefd) {
				t.Errorf("wait returned %d, with l.events[:%d] = %+v; want 2 events: the listener (fd %d) and the eventfd (fd %d), both EPOLLIN", got.n, max(got.n, 0), l.events[:max(got.n, 0)], l.lfd, l.wakefd)
			}
		}},
		{"with nothing ready and no deadline, wait sleeps until an event: a worker's wake-up ends it", func(t *testing.T, l *loop) {
			_, done := waiting(l, t0)
			select {
			case got := <-done:
				t.Fatalf("wait returned (%d, %v) with nothing ready: it must sleep in epoll_wait until an event", got.n, got.err)
			case <-time.After(300 * time.Millisecond):
			}
			l.requestStop() // writes the eventfd, as a worker does, since the loop said it sleeps
			select {
			case got := <-done:
				if got.err != nil || got.n != 1 || !reported(l, got.n, l.wakefd) {
					t.Errorf("woken by the eventfd, wait returned (%d, %v); want 1 event, the eventfd's (fd %d)", got.n, got.err, l.wakefd)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("wait still sleeps 2s after the eventfd was written: does it call epoll_wait on l.epfd, where the eventfd is?")
			}
		}},
		{"a signal that interrupts epoll_wait (EINTR) is no error: the loop goes round again", func(t *testing.T, l *loop) {
			tid, done := waiting(l, t0)
			var signals atomic.Int32
			stop := make(chan struct{})
			defer close(stop)
			go func() { // signals until wait returns: one of them finds it asleep in epoll_wait
				for {
					select {
					case <-stop:
						return
					case <-time.After(10 * time.Millisecond):
						unix.Tgkill(unix.Getpid(), tid, unix.SIGURG) // Go's runtime takes SIGURG, and ignores it
						signals.Add(1)
					}
				}
			}()
			var got waited
			select {
			case got = <-done:
			case <-time.After(time.Second):
				// A wait that calls epoll_wait again after EINTR does not return: no error either. Wake it.
				l.requestStop()
				got = <-done
			}
			if errors.Is(got.err, unix.EINTR) {
				t.Errorf("wait returned %v after %d signals: EINTR says that a signal came while the thread slept, which is no error; return 0 events and no error, and the loop goes round", got.err, signals.Load())
			} else if got.err != nil {
				t.Errorf("wait returned %v after %d signals", got.err, signals.Load())
			}
		}},
		{"any other error of epoll_wait is returned, wrapped", func(t *testing.T, l *loop) {
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			defer unix.Close(p[0])
			defer unix.Close(p[1])
			epfd := l.epfd
			l.epfd = p[0] // not an epoll instance: epoll_wait fails with EINVAL
			defer func() { l.epfd = epfd }()
			var err error
			if !within(t, 2*time.Second, "wait, on a descriptor that is not an epoll instance", func() { _, err = l.wait(t0) }) {
				return
			}
			if !errors.Is(err, unix.EINVAL) {
				t.Errorf("wait on a pipe instead of an epoll instance returned %v; want epoll_wait's error, EINVAL, returned (wrap it with %%w to say what failed)", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			tt.check(t, newTestLoop(t, setup{}))
		})
	}
}
