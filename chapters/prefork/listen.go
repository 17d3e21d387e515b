package prefork

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// The environment of systemd socket activation (sd_listen_fds(3)): the sockets start at fd 3.
const (
	EnvListenFDs = "LISTEN_FDS"
	EnvListenPID = "LISTEN_PID"
	listenFDs    = 3 // SD_LISTEN_FDS_START
)

// Listen returns the listening socket of the master as a file, to pass on to the workers. If systemd (or
// another service manager) started the process with a socket (LISTEN_PID is this process's pid and
// LISTEN_FDS at least 1), it is that socket, at fd 3, and the two variables are removed from the
// environment so that the workers do not take them for theirs. Otherwise Listen opens a socket on addr:
// "host:port" for TCP, "unix:/path" or "/path" for a UNIX socket. The socket stays open for as long as the
// file does, in this process or any that inherited it.
func Listen(addr string) (*os.File, error) {
	if f, err := activated(); f != nil || err != nil {
		return f, err
	}
	network := "tcp"
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", path
	} else if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false) // the socket file stays: the file returned keeps the socket open
	}
	f, err := ln.(interface{ File() (*os.File, error) }).File() // a duplicate of the socket's descriptor
	ln.Close()
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return f, nil
}

// Addr returns the address that the socket in f listens on: "127.0.0.1:8080", or a UNIX socket's path.
func Addr(f *os.File) string {
	ln, err := net.FileListener(f) // a duplicate of the descriptor, closed below
	if err != nil {
		return "?"
	}
	defer ln.Close()
	return ln.Addr().String()
}

// activated returns the socket that a service manager passed at fd 3, or nil when it passed none.
func activated() (*os.File, error) {
	pid, fds := os.Getenv(EnvListenPID), os.Getenv(EnvListenFDs)
	if pid == "" || pid != strconv.Itoa(os.Getpid()) {
		return nil, nil
	}
	os.Unsetenv(EnvListenPID)
	os.Unsetenv(EnvListenFDs)
	n, err := strconv.Atoi(fds)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("socket activation: %s=%q, want 1 or more sockets", EnvListenFDs, fds)
	}
	if n > 1 {
		return nil, fmt.Errorf("socket activation: %d sockets were passed; this server listens on one", n)
	}
	if err := isSocket(listenFDs); err != nil {
		return nil, fmt.Errorf("socket activation: fd %d: %w", listenFDs, err)
	}
	syscall.CloseOnExec(listenFDs) // passed on to the workers only as Exec passes it
	return os.NewFile(listenFDs, "listener"), nil
}

// isSocket reports, as an error, whether fd is not an open socket.
func isSocket(fd int) error {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		return errors.New("not a socket")
	}
	return nil
}
