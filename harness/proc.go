package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Process is a process found in /proc.
type Process struct {
	Pid     int
	Cmdline string
}

// BecomeSubreaper makes the calling process a child subreaper (prctl PR_SET_CHILD_SUBREAPER): orphans
// of its children, such as a daemon that double-forked and called setsid, are re-parented to it instead
// of to init, so that they stay in its process tree and their zombies are reaped by Leftovers.
func BecomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	return nil
}

// procStat is what /proc/PID/stat says about a process.
type procStat struct {
	pid, ppid, pgid int
	state           byte
	start           uint64 // start time in clock ticks since boot: with pid, it names one process
	cpu             uint64 // user and system time used, in clock ticks (utime + stime)
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name, in parentheses, may hold spaces and parentheses: the fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	s := procStat{pid: pid, state: f[0][0]}
	s.ppid, _ = strconv.Atoi(f[1])
	s.pgid, _ = strconv.Atoi(f[2])
	s.start, _ = strconv.ParseUint(f[19], 10, 64)
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	s.cpu = utime + stime
	return s, nil
}

// allProcs returns the processes in /proc; processes that vanish while it reads are left out.
func allProcs() []procStat {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var ps []procStat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, err := readStat(pid); err == nil {
			ps = append(ps, s)
		}
	}
	return ps
}

// hasEnv reports whether the environment the process started with holds the entry kv ("NAME=value").
func hasEnv(pid int, kv string) bool {
	name, value, _ := strings.Cut(kv, "=")
	v, ok := Env(pid, name)
	return ok && v == value
}

func cmdline(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		return "[" + strings.TrimSpace(string(comm)) + "]"
	}
	s := strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// kill sends SIGKILL to the process p names, through a pidfd so that a pid reused since p was read is
// never hit.
func kill(p procStat) {
	fd, err := unix.PidfdOpen(p.pid, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	if now, err := readStat(p.pid); err != nil || now.start != p.start {
		return
	}
	_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
}

// reap collects the zombie pid if it is our child, and reports whether it is gone; the caller has made
// sure nobody else waits for it. A multi-threaded process shows as a zombie before it can be reaped:
// until all its threads have exited.
func reap(pid int) bool {
	var ws unix.WaitStatus
	wpid, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	return wpid == pid || err != nil
}

// childInfo is siginfo_t as waitid fills it for a child (si_pid, si_uid, si_status after the header).
type childInfo struct {
	signo, errno, code int32
	_                  int32
	pid                int32
	uid                uint32
	status             int32
	_                  [100]byte
}

// waitExit blocks until the child pid has exited and returns how, without reaping it (WNOWAIT): until
// it is reaped its pid, and so its process group id, cannot be reused, which makes killing the group safe.
func waitExit(pid int) exitStatus {
	var info childInfo
	for {
		_, _, errno := unix.Syscall6(unix.SYS_WAITID, unix.P_PID, uintptr(pid),
			uintptr(unsafe.Pointer(&info)), unix.WEXITED|unix.WNOWAIT, 0, 0)
		if errno == 0 {
			return exitStatus{code: info.code, status: int(info.status)}
		}
		if !errors.Is(errno, syscall.EINTR) {
			return exitStatus{err: errno}
		}
	}
}

// si_code values of a SIGCHLD siginfo (x/sys/unix does not define them).
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

// exitStatus says how a process ended.
type exitStatus struct {
	code   int32 // cldExited, cldKilled or cldDumped
	status int   // the exit code, or the signal
	err    error // waitid failed
}

// String returns "exit status N" or "killed by signal N (SIGNAME)".
func (e exitStatus) String() string {
	switch e.code {
	case cldExited:
		return fmt.Sprintf("exit status %d", e.status)
	case cldKilled, cldDumped:
		s := fmt.Sprintf("killed by signal %d (%s)", e.status, unix.SignalName(syscall.Signal(e.status)))
		if e.code == cldDumped {
			s += ", core dumped"
		}
		return s
	}
	return fmt.Sprintf("unknown (waitid: %v)", e.err)
}

// phrase returns the exit status as the end of a sentence that starts with "the server ...".
func (e exitStatus) phrase() string {
	if e.code == cldExited {
		return fmt.Sprintf("exited with status %d", e.status)
	}
	if e.code == cldKilled || e.code == cldDumped {
		return "was " + e.String()
	}
	return "ended, " + e.String()
}
