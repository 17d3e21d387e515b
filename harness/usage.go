package harness

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Usage is what the processes of a server use, summed over every process of the run (a server may be a
// shell script that starts Python, or a master and its workers).
type Usage struct {
	Processes int
	Threads   int           // the Threads: lines of /proc/PID/status
	RSS       int64         // resident memory in bytes (VmRSS)
	CPU       time.Duration // user and system time used so far (utime + stime of /proc/PID/stat)
	Files     int           // open file descriptors (entries of /proc/PID/fd)
}

// clockTick is the unit of the times in /proc/PID/stat (USER_HZ, 100 on Linux everywhere).
const clockTick = 10 * time.Millisecond

// Usage reads the resources used by the processes of the run now. A process that exits while it is read
// is left out; an error says that no process could be read.
func (s *Server) Usage() (Usage, error) {
	var pids []int
	for _, p := range s.Processes() {
		pids = append(pids, p.Pid)
	}
	return usageOf(pids)
}

// ProcessUsage reads the resources used by process pid and its children now: a server such as nginx
// serves from worker processes that its master started.
func ProcessUsage(pid int) (Usage, error) {
	pids := []int{pid}
	for _, p := range allProcs() {
		if p.ppid == pid {
			pids = append(pids, p.pid)
		}
	}
	return usageOf(pids)
}

// usageOf sums the usage of the processes pids.
func usageOf(pids []int) (Usage, error) {
	var u Usage
	var errs []error
	for _, pid := range pids {
		pu, err := processUsage(pid)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		u.Processes++
		u.Threads += pu.Threads
		u.RSS += pu.RSS
		u.CPU += pu.CPU
		u.Files += pu.Files
	}
	if u.Processes == 0 {
		if len(errs) == 0 {
			return u, errors.New("usage: no process of the server is alive")
		}
		return u, fmt.Errorf("usage: %w", errors.Join(errs...))
	}
	return u, nil
}

// processUsage reads the usage of one process.
func processUsage(pid int) (Usage, error) {
	u := Usage{Processes: 1}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			continue
		}
		switch name {
		case "Threads":
			u.Threads, _ = strconv.Atoi(f[0])
		case "VmRSS": // "VmRSS:	  12345 kB"
			kb, _ := strconv.ParseInt(f[0], 10, 64)
			u.RSS = kb << 10
		}
	}
	st, err := readStat(pid)
	if err != nil {
		return u, err
	}
	u.CPU = time.Duration(st.cpu) * clockTick
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return u, err
	}
	u.Files = len(fds)
	return u, nil
}

// LimitFiles sets the limit on open files (RLIMIT_NOFILE, soft and hard) of every process of the run to n,
// as `prlimit --pid PID --nofile=n:n` does: a server can be made to run out of file descriptors without a
// hundred thousand connections. Lowering a limit needs no privilege.
func (s *Server) LimitFiles(n uint64) error {
	ps := s.Processes()
	if len(ps) == 0 {
		return errors.New("limit open files: no process of the server is alive")
	}
	lim := unix.Rlimit{Cur: n, Max: n}
	for _, p := range ps {
		if err := unix.Prlimit(p.Pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
			return fmt.Errorf("limit the open files of process %d to %d: %w", p.Pid, n, err)
		}
	}
	return nil
}

// Runnable reads, for every thread of every process of the run, how long it has been on a CPU or waiting in a
// run queue for one (the first two fields of /proc/PID/task/TID/schedstat, in nanoseconds), by thread id. A
// thread that spins is runnable all the time, however loaded the machine; one that sleeps is not. So it tells
// a spinning loop from an idle one where CPU time cannot: on a busy machine a spinning thread gets only its
// share of a CPU. An error says that no thread could be read (a kernel without schedstats).
func (s *Server) Runnable() (map[int]time.Duration, error) {
	out := map[int]time.Duration{}
	var errs []error
	for _, p := range s.Processes() {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", p.Pid))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, task := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", p.Pid, task.Name()))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			f := strings.Fields(string(b))
			tid, err1 := strconv.Atoi(task.Name())
			if len(f) < 2 || err1 != nil {
				errs = append(errs, fmt.Errorf("/proc/%d/task/%s/schedstat: %q", p.Pid, task.Name(), b))
				continue
			}
			run, err1 := strconv.ParseInt(f[0], 10, 64)
			wait, err2 := strconv.ParseInt(f[1], 10, 64)
			if err1 != nil || err2 != nil {
				errs = append(errs, fmt.Errorf("/proc/%d/task/%s/schedstat: %q", p.Pid, task.Name(), b))
				continue
			}
			out[tid] = time.Duration(run + wait)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("runnable time: %w", errors.Join(append(errs, errors.New("no thread of the server could be read"))...))
	}
	return out, nil
}

// MostRunnable returns the thread of after that was runnable longest since before (Runnable's two readings),
// and for how long.
func MostRunnable(before, after map[int]time.Duration) (tid int, d time.Duration) {
	for t, a := range after {
		if delta := a - before[t]; delta > d {
			tid, d = t, delta
		}
	}
	return tid, d
}

// LimitOpenFiles lowers the soft limit on open files (RLIMIT_NOFILE) of every process of the run so that it
// can open only spare more descriptors, keeping each hard limit, as `prlimit --pid PID --nofile=N:` does, and
// returns a function that puts each soft limit back. The limit bounds descriptor numbers, and a new
// descriptor takes the lowest free one, so the limit is the lowest free number plus spare. Unlike
// LimitFiles, it can be undone without privilege: with spare 0, a server runs out of file descriptors at its
// next accept, then gets them back.
func (s *Server) LimitOpenFiles(spare uint64) (restore func() error, err error) {
	ps := s.Processes()
	if len(ps) == 0 {
		return nil, errors.New("limit open files: no process of the server is alive")
	}
	type saved struct {
		pid int
		lim unix.Rlimit
	}
	var old []saved
	restore = func() error {
		var errs []error
		for _, o := range old {
			if err := unix.Prlimit(o.pid, unix.RLIMIT_NOFILE, &o.lim, nil); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("restore the open files limit of process %d: %w", o.pid, err))
			}
		}
		return errors.Join(errs...)
	}
	for _, p := range ps {
		var cur unix.Rlimit
		if err := unix.Prlimit(p.Pid, unix.RLIMIT_NOFILE, nil, &cur); err != nil {
			restore()
			return nil, fmt.Errorf("read the open files limit of process %d: %w", p.Pid, err)
		}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.Pid))
		if err != nil {
			restore()
			return nil, fmt.Errorf("count the open files of process %d: %w", p.Pid, err)
		}
		open := map[int]bool{}
		for _, fd := range fds {
			if n, err := strconv.Atoi(fd.Name()); err == nil {
				open[n] = true
			}
		}
		free := 0
		for open[free] {
			free++
		}
		n := uint64(free) + spare
		lim := unix.Rlimit{Cur: min(n, cur.Max), Max: cur.Max}
		if err := unix.Prlimit(p.Pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
			restore()
			return nil, fmt.Errorf("limit the open files of process %d to %d: %w", p.Pid, n, err)
		}
		old = append(old, saved{p.Pid, cur})
	}
	return restore, nil
}
