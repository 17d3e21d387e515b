package harness

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The process tree of a prefork server, read from /proc: a master's children, whether a process is gone,
// and which processes hold a listening socket.

// Children returns the pids of the live children of pid, in increasing order; zombies (children that have
// exited and not been reaped) are left out.
func Children(pid int) []int {
	var kids []int
	for _, p := range allProcs() {
		if p.ppid == pid && p.state != 'Z' && p.state != 'X' {
			kids = append(kids, p.pid)
		}
	}
	slices.Sort(kids)
	return kids
}

// Zombies returns the pids of the children of pid that have exited and that pid has not reaped.
func Zombies(pid int) []int {
	var zs []int
	for _, p := range allProcs() {
		if p.ppid == pid && p.state == 'Z' {
			zs = append(zs, p.pid)
		}
	}
	slices.Sort(zs)
	return zs
}

// State returns the state letter of process pid as /proc shows it ('R' running, 'S' sleeping, 'T'
// stopped, 'Z' zombie, ...), or 0 when there is no such process.
func State(pid int) byte {
	st, err := readStat(pid)
	if err != nil {
		return 0
	}
	return st.state
}

// Gone reports whether process pid has exited: there is no such process, or only its zombie, which is
// reaped if it is a child of this process.
func Gone(pid int) bool {
	switch State(pid) {
	case 0:
		return true
	case 'Z', 'X':
		reap(pid)
		return true
	}
	return false
}

// WaitGone waits up to d until every process of pids has exited (see Gone) and returns those still alive.
func WaitGone(pids []int, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		var alive []int
		for _, pid := range pids {
			if !Gone(pid) {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			return alive
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SignalPid sends sig to process pid, through a pidfd so that a pid reused meanwhile is never hit.
func SignalPid(pid int, sig syscall.Signal) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("signal %v to pid %d: %w", sig, pid, err)
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal %v to pid %d: %w", sig, pid, err)
	}
	return nil
}

// Env returns the value of the variable name in the environment that process pid started with, and
// whether it has one.
func Env(pid int, name string) (string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return "", false
	}
	for _, e := range strings.Split(string(b), "\x00") {
		if v, ok := strings.CutPrefix(e, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// ListeningSockets returns the inodes of the TCP sockets listening on port (IPv4 and IPv6), from
// /proc/net/tcp and /proc/net/tcp6. Each socket has one inode, shared by every process that holds it.
func ListeningSockets(port int) ([]uint64, error) {
	var inodes []uint64
	var errs []error
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		found, err := listening(file, port)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		inodes = append(inodes, found...)
	}
	slices.Sort(inodes)
	if len(inodes) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return inodes, nil
}

// tcpListen is the state of a listening socket in /proc/net/tcp.
const tcpListen = "0A"

// listening reads one /proc/net/tcp file for the sockets listening on port.
func listening(file string, port int) ([]uint64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var inodes []uint64
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != tcpListen {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if p, err := strconv.ParseUint(hexPort, 16, 16); !ok || err != nil || int(p) != port {
			continue
		}
		if inode, err := strconv.ParseUint(f[9], 10, 64); err == nil {
			inodes = append(inodes, inode)
		}
	}
	return inodes, sc.Err()
}

// SocketHolders returns the pids, among pids, of the processes that hold a descriptor for the socket with
// the given inode, each with the descriptor numbers.
func SocketHolders(inode uint64, pids []int) map[int][]int {
	want := fmt.Sprintf("socket:[%d]", inode)
	holders := map[int][]int{}
	for _, pid := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if link, err := os.Readlink(dir + "/" + e.Name()); err == nil && link == want {
				fd, _ := strconv.Atoi(e.Name())
				holders[pid] = append(holders[pid], fd)
			}
		}
		slices.Sort(holders[pid])
	}
	return holders
}
