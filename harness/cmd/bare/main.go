// Command bare is the floor under chapter 3's event loop: one epoll loop over non-blocking sockets, as in
// chapter 3, that answers "Hello, World!\n" to every request head it sees, without parsing it, without an
// environ, an app or a pool. It is not an HTTP server (it ignores request bodies, and closes a connection
// that does not take its answer at once), but a measuring stick: the bench runs it beside chapter 3's server
// and nginx to show what the loop itself costs per request, and so what the parser, the gateway and the
// hand-off to the pool add.
//
// Usage:
//
//	bare [-addr 127.0.0.1:PORT] [-loops N]
//
// It prints "listening on ADDR" once it accepts connections (with port 0, ADDR says which port it got) and
// exits on SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen on `host:port`, a loopback address (port 0 picks a free port)")
	loops := flag.Int("loops", 1, "event loops, each on a thread of its own, sharing the listening socket")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bare: ")
	if *loops < 1 || *loops > 64 {
		log.Fatalf("-loops %d: want 1 to 64", *loops)
	}
	lfd, bound, err := listen(*addr)
	if err != nil {
		log.Fatal(err)
	}
	for range *loops {
		l, err := newLoop(lfd)
		if err != nil {
			log.Fatal(err)
		}
		go l.run()
	}
	fmt.Printf("listening on %s\n", bound)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	<-stop
}

// listen opens a non-blocking listening socket on addr, which must be an IPv4 loopback address.
func listen(addr string) (int, string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return -1, "", fmt.Errorf("-addr %q: %w", addr, err)
	}
	ip := net.ParseIP(host).To4()
	if ip == nil || !ip.IsLoopback() {
		return -1, "", fmt.Errorf("-addr %q: want an IPv4 loopback address, such as 127.0.0.1", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return -1, "", fmt.Errorf("-addr %q: bad port", addr)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("socket: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	sa := &unix.SockaddrInet4{Port: p, Addr: [4]byte(ip)}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("bind %s: %w", addr, err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("listen %s: %w", addr, err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("getsockname: %w", err)
	}
	return fd, net.JoinHostPort(host, strconv.Itoa(got.(*unix.SockaddrInet4).Port)), nil
}

// dateFormat is the form of the Date header (RFC 9110, section 5.6.7).
const dateFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// loop is one event loop: its own epoll instance, the shared listener, and the connections it accepted.
type loop struct {
	epfd, lfd int
	matched   []int8 // by descriptor: how many bytes of "\r\n\r\n" the connection's last read ended with
	events    []unix.EpollEvent
	buf       []byte
	out       []byte // the answers to the heads of one read
	answer    []byte // the answer to one head, its Date set once a second
	second    int64
}

func newLoop(lfd int) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	// EPOLLEXCLUSIVE: a new connection wakes one of the loops, not all of them.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(lfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, lfd, &ev); err != nil {
		return nil, fmt.Errorf("epoll_ctl on the listener: %w", err)
	}
	return &loop{epfd: epfd, lfd: lfd, events: make([]unix.EpollEvent, 256), buf: make([]byte, 64<<10)}, nil
}

func (l *loop) run() {
	runtime.LockOSThread()
	for {
		n, err := unix.EpollWait(l.epfd, l.events, -1)
		if err != nil {
			continue // EINTR
		}
		for _, ev := range l.events[:n] {
			if fd := int(ev.Fd); fd == l.lfd {
				l.accept()
			} else {
				l.serve(fd)
			}
		}
	}
}

func (l *loop) accept() {
	for range 64 {
		fd, _, err := unix.Accept4(l.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN: another loop took it, or none is left; EMFILE: the bench does not go there
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			unix.Close(fd)
			continue
		}
		for fd >= len(l.matched) {
			l.matched = append(l.matched, 0)
		}
		l.matched[fd] = 0
	}
}

// serve reads what fd has and answers each request head that ends in it.
func (l *loop) serve(fd int) {
	n, err := unix.Read(fd, l.buf)
	if n <= 0 || err != nil {
		unix.Close(fd) // the client closed, or a reset; EAGAIN cannot happen after level-triggered EPOLLIN
		return
	}
	heads, m := countHeads(int(l.matched[fd]), l.buf[:n])
	l.matched[fd] = int8(m)
	l.out = l.out[:0]
	for range heads {
		l.out = append(l.out, l.hello()...)
	}
	if len(l.out) > 0 {
		if w, err := unix.Write(fd, l.out); err != nil || w < len(l.out) {
			unix.Close(fd) // no buffering: a client that does not take its answer at once is dropped
		}
	}
}

// countHeads counts the ends of request heads ("\r\n\r\n") in b, a read that follows one ending with the first
// m bytes of such an end, and returns them with the number of bytes of an end that b ends with.
func countHeads(m int, b []byte) (heads, partial int) {
	const end = "\r\n\r\n"
	for _, c := range b {
		switch {
		case c == end[m]:
			m++
		case c == '\r':
			m = 1
		default:
			m = 0
		}
		if m == len(end) {
			heads++
			m = 0
		}
	}
	return heads, m
}

// hello returns the answer to one request, with a Date header of this second.
func (l *loop) hello() []byte {
	now := time.Now()
	if s := now.Unix(); s != l.second || l.answer == nil {
		l.second = s
		body := "Hello, World!\n"
		l.answer = fmt.Appendf(l.answer[:0], "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: %s\r\nContent-Length: %d\r\n\r\n%s",
			now.UTC().Format(dateFormat), len(body), body)
	}
	return l.answer
}
