package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// listen opens a non-blocking listening TCP socket on addr ("127.0.0.1:8080", "[::1]:8080", ":8080" for
// every interface, "localhost:8080"), with the system calls that package net makes for the servers of the
// other chapters, and returns it with the port it is bound to (the one the kernel chose, for port 0).
func listen(addr string) (fd, port int, err error) {
	sa, domain, err := sockaddr(addr)
	if err != nil {
		return -1, 0, err
	}
	// SOCK_NONBLOCK: accept4 on it returns EAGAIN instead of blocking when no connection waits.
	// SOCK_CLOEXEC: a program this one starts does not inherit it.
	fd, err = unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, fmt.Errorf("socket: %w", err)
	}
	fail := func(call string, err error) (int, int, error) {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("%s %s: %w", call, addr, err)
	}
	// A restarted server may bind the port at once, even while connections of the old one are in TIME_WAIT.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt SO_REUSEADDR", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	// The backlog is the kernel's queue of connections not yet accepted; it is capped by
	// /proc/sys/net/core/somaxconn, as Go's net package caps it.
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		return fail("listen", err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	switch sa := bound.(type) {
	case *unix.SockaddrInet4:
		port = sa.Port
	case *unix.SockaddrInet6:
		port = sa.Port
	}
	return fd, port, nil
}

// sockaddr parses "host:port" where host is an IP address, "localhost", or empty (every interface). There is
// no name resolution: that is package net's, which this server does without.
func sockaddr(addr string) (unix.Sockaddr, int, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return nil, 0, fmt.Errorf("bad address %q: want host:port", addr)
	}
	host, portStr := strings.Trim(addr[:i], "[]"), addr[i+1:]
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, 0, fmt.Errorf("bad port in address %q", addr)
	}
	switch host {
	case "":
		host = "0.0.0.0"
	case "localhost":
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, 0, fmt.Errorf("bad address %q: the host must be an IP address or localhost", addr)
	}
	if ip.Is4() {
		return &unix.SockaddrInet4{Port: int(port), Addr: ip.As4()}, unix.AF_INET, nil
	}
	return &unix.SockaddrInet6{Port: int(port), Addr: ip.As16()}, unix.AF_INET6, nil
}
