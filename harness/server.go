package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// BuildTimeout bounds Build when its context has no deadline.
const BuildTimeout = 3 * time.Minute

// Build compiles the Go main package in dir into the executable out, with the race detector if race is
// set. On failure the error holds the compiler's output (its first and last few KiB).
func Build(ctx context.Context, dir, out string, race bool) error {
	return BuildOverlay(ctx, dir, out, race, "")
}

// BuildOverlay is Build with go build's -overlay flag, when overlay is not "": overlay names a JSON file
// that maps source files to files compiled in their place ({"Replace": {"/abs/a.go": "/tmp/a.go"}}, see
// `go help build`). A changed copy of a file is built without the source tree being touched.
func BuildOverlay(ctx context.Context, dir, out string, race bool, overlay string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, BuildTimeout)
		defer cancel()
	}
	out, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("build %s: %w", dir, err)
	}
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, ".")...)
	cmd.Dir = dir
	output := newOutputBuffer(16 << 10)
	cmd.Stdout, cmd.Stderr = output, output
	// go build runs the compiler and linker as children: kill them all on timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL} // Pdeathsig: if the grader dies, so does the build
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", err, ctx.Err())
		}
		return fmt.Errorf("build %s: go %s: %w\n%s", dir, strings.Join(cmd.Args[1:], " "), err, output)
	}
	return nil
}

// ServerConfig says how to start a server under test.
type ServerConfig struct {
	// Command is the argv. "{addr}", "{host}" and "{port}" in any element (and in Flags) are replaced by
	// the address, host and port chosen; when neither {addr} nor {port} appears, "-addr", "127.0.0.1:PORT"
	// are appended, the flag of the course's Go servers. An element that is exactly "{flags}" is replaced by
	// Flags, one element each.
	Command []string
	// Flags are the server's flags: at the "{flags}" element of Command, or after Command (and -addr) when
	// it has none.
	Flags        []string
	Dir          string        // working directory; "" for the current one
	Env          []string      // added to this process's environment
	ReadyTimeout time.Duration // how long to wait for the port to accept; default 10 s
	OutputLimit  int           // bytes of stdout+stderr kept, head and tail; default 64 KiB
}

// Server is a server process started by Start, in a process group of its own.
type Server struct {
	cmd    *exec.Cmd
	addr   string
	port   int
	marker string // an environment entry that every process of this run inherits
	start  uint64 // start time of the main process, in clock ticks

	output  *outputBuffer
	outR    *os.File
	copied  chan struct{} // closed when the output pipe reaches EOF
	settled atomic.Bool   // Output has waited for the pipe after the exit

	exited chan struct{} // closed when the main process has exited (it is not reaped before Stop)
	status exitStatus    // set before exited is closed

	mu    sync.Mutex
	known map[int]uint64 // processes of the run seen alive: pid to start time, so their zombies are recognised

	stopOnce sync.Once
	stopped  atomic.Bool
	result   StopResult
}

// StopResult reports how a server stopped.
type StopResult struct {
	// Graceful says that the main process exited within the grace period after SIGTERM, and every other
	// process of the run with it: none had to be killed.
	Graceful     bool
	After        time.Duration // how long after SIGTERM the main process exited, when it did in time
	Killed       bool          // the main process did not exit within the grace period and was killed
	Status       string        // how it exited: "exit status 0", "killed by signal 9 (SIGKILL)"
	ExitedBefore bool          // it had already exited when Stop was called (it crashed, or was killed)
	// Leftovers are the other processes of the run that were still alive when the main process was gone
	// (or killed), in its process group or not: Stop killed them.
	Leftovers []Process
}

// StartError reports a server that did not come up: it exited, or did not accept connections in time.
type StartError struct {
	Addr   string
	Pid    int           // the process, now gone
	Exited bool          // the process exited before accepting connections
	Status string        // how it exited, when Exited
	Wait   time.Duration // how long Start waited, when not Exited
	Output string        // the end of the server's output
	status exitStatus
}

func (e *StartError) Error() string {
	var s string
	if e.Exited {
		s = fmt.Sprintf("the server %s before accepting connections on %s", e.status.phrase(), e.Addr)
	} else {
		s = fmt.Sprintf("the server did not accept connections on %s within %v (it was killed)", e.Addr, e.Wait)
	}
	if strings.TrimSpace(e.Output) == "" {
		return s + "; it printed nothing"
	}
	return s + "; its output ends with:\n" + e.Output
}

// runEnv names the environment entry that marks the processes of one run: descendants inherit it even
// when they leave the process group, which is how Leftovers finds a daemon that called setsid.
const runEnv = "COURSE_HARNESS_RUN"

var runSeq atomic.Int64

// Start starts a server on a free port of 127.0.0.1 and waits until the port accepts a connection. The
// process runs in its own process group, with stdout and stderr captured (see Output). It fails when the
// process exits first (it retries on another port, up to three times in all, when its output says the
// address was in use) or when ReadyTimeout passes; either way nothing of it is left running.
func Start(cfg ServerConfig) (*Server, error) {
	if len(cfg.Command) == 0 {
		return nil, errors.New("start server: empty command")
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 10 * time.Second
	}
	if cfg.OutputLimit <= 0 {
		cfg.OutputLimit = 64 << 10
	}
	var err error
	for range 3 {
		var s *Server
		if s, err = start(cfg); err == nil {
			return s, nil
		}
		var se *StartError
		if !errors.As(err, &se) || !se.Exited || !strings.Contains(strings.ToLower(se.Output), "address already in use") {
			break
		}
	}
	return nil, err
}

func start(cfg ServerConfig) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		port:   port,
		marker: fmt.Sprintf("%s=%d.%d", runEnv, os.Getpid(), runSeq.Add(1)),
		output: newOutputBuffer(cfg.OutputLimit),
		copied: make(chan struct{}),
		exited: make(chan struct{}),
	}
	argv := s.argv(cfg)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	s.outR = r
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Dir = cfg.Dir
	s.cmd.Env = append(append(os.Environ(), cfg.Env...), s.marker)
	// A pipe of our own rather than an io.Writer: exec would otherwise make Wait wait for every process
	// that inherited the pipe, such as a daemon that escaped the group.
	s.cmd.Stdout, s.cmd.Stderr = w, w
	// Pdeathsig: a grader killed outright (SIGKILL, a broken pipe) takes the server with it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = s.cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	if st, err := readStat(s.cmd.Process.Pid); err == nil {
		s.start = st.start
	}
	go func() {
		io.Copy(s.output, r)
		close(s.copied)
	}()
	go func() {
		s.status = waitExit(s.cmd.Process.Pid)
		close(s.exited)
	}()
	if s.waitReady(cfg.ReadyTimeout) {
		return s, nil
	}
	res := s.Stop(0)
	e := &StartError{Addr: s.addr, Pid: s.Pid(), Exited: res.ExitedBefore, Wait: cfg.ReadyTimeout, Output: s.output.Tail(4 << 10)}
	if e.Exited {
		e.Status, e.status = s.status.String(), s.status
	}
	return nil, e
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) argv(cfg ServerConfig) []string {
	var args []string
	placed := false
	for _, a := range cfg.Command {
		if a == FlagsPlaceholder {
			args = append(args, cfg.Flags...)
			placed = true
			continue
		}
		args = append(args, a)
	}
	if !slices.ContainsFunc(cfg.Command, hasPlaceholder) && !slices.ContainsFunc(cfg.Flags, hasPlaceholder) {
		args = append(args, "-addr", "{addr}")
	}
	if !placed {
		args = append(args, cfg.Flags...)
	}
	host, port, _ := net.SplitHostPort(s.addr)
	r := strings.NewReplacer("{addr}", s.addr, "{host}", host, "{port}", port)
	for i, a := range args {
		args[i] = r.Replace(a)
	}
	return args
}

// FlagsPlaceholder is the element of ServerConfig.Command that stands for the server's flags.
const FlagsPlaceholder = "{flags}"

func hasPlaceholder(arg string) bool {
	return strings.Contains(arg, "{addr}") || strings.Contains(arg, "{port}")
}

// waitReady dials the port until it accepts, the process exits or timeout passes.
func (s *Server) waitReady(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", s.addr, 250*time.Millisecond)
		if err == nil {
			// A dial to a port nobody listens on can, rarely, connect the socket to itself.
			self := c.LocalAddr().String() == c.RemoteAddr().String()
			c.Close()
			if !self {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Addr returns the address the server listens on, "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.addr }

// Port returns the port the server listens on.
func (s *Server) Port() int { return s.port }

// Pid returns the process id of the server's main process, which is also its process group id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Output returns what the server wrote to stdout and stderr, interleaved: its beginning and its end
// when there was more than OutputLimit, with a line saying how much was left out. Once the main process has
// exited, Output first lets the last bytes still in the pipe arrive (for at most lastWordsWait, in case a
// child of the server keeps the pipe open), so that a dying server's last words are not lost.
func (s *Server) Output() string {
	select {
	case <-s.exited:
		if !s.settled.Load() {
			select {
			case <-s.copied:
			case <-time.After(lastWordsWait):
			}
			s.settled.Store(true)
		}
	default:
	}
	return s.output.String()
}

// lastWordsWait bounds how long Output waits for the pipe of a server that has exited.
const lastWordsWait = 300 * time.Millisecond

// Exited reports whether the main process has exited, and how: "exit status 2", "killed by signal 9
// (SIGKILL)".
func (s *Server) Exited() (bool, string) {
	select {
	case <-s.exited:
		return true, s.status.String()
	default:
		return false, ""
	}
}

// Signal sends sig to the main process.
func (s *Server) Signal(sig syscall.Signal) error {
	if err := s.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %v to pid %d: %w", sig, s.Pid(), err)
	}
	return nil
}

// Stop sends SIGTERM to the main process and waits up to grace for it, and for the processes it started, to
// exit. Then it kills the whole process group with SIGKILL, reaps the main process, kills any other process
// of the run (see Leftovers) and waits, for a bounded time, for its output to drain. A process that had to
// be killed is listed in the result's Leftovers, and makes the stop not graceful. Calling Stop again
// returns the first result.
func (s *Server) Stop(grace time.Duration) StopResult {
	s.stopOnce.Do(func() { s.result = s.stop(grace) })
	return s.result
}

// settleChildren is the least time the other processes of a run get to exit after the main process has.
const settleChildren = 200 * time.Millisecond

func (s *Server) stop(grace time.Duration) StopResult {
	var res StopResult
	deadline := time.Now().Add(grace)
	select {
	case <-s.exited:
		res.ExitedBefore = true
	default:
		sent := time.Now()
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err == nil {
			t := time.NewTimer(grace)
			select {
			case <-s.exited:
				res.Graceful = true
				res.After = time.Since(sent)
			case <-t.C:
			}
			t.Stop()
		}
	}
	// The processes the main one started must stop with it: a master waits for its workers before it exits,
	// and workers whose master crashed must notice and exit. They get what is left of the grace period, and
	// a moment at least.
	killed := s.others()
	until := time.Now().Add(max(time.Until(deadline), settleChildren))
	for len(killed) > 0 && (res.Graceful || res.ExitedBefore) && time.Now().Before(until) {
		time.Sleep(20 * time.Millisecond)
		killed = s.others()
	}
	res.Killed = !res.ExitedBefore && !res.Graceful
	// The main process is not reaped yet, so its pid is still the group's id and cannot name another group.
	_ = syscall.Kill(-s.Pid(), syscall.SIGKILL)
	select {
	case <-s.exited:
		_ = s.cmd.Wait()
		res.Status = s.status.String()
	case <-time.After(5 * time.Second):
		res.Status = "still running after SIGKILL"
	}
	s.stopped.Store(true)
	res.Leftovers = killed
	for _, p := range s.Leftovers() { // those that left the group, found and killed
		if !slices.ContainsFunc(killed, func(q Process) bool { return q.Pid == p.Pid }) {
			res.Leftovers = append(res.Leftovers, p)
		}
	}
	if len(res.Leftovers) > 0 {
		res.Graceful = false
	}
	s.drain(2 * time.Second)
	return res
}

// others returns the live processes of the run other than the main one.
func (s *Server) others() []Process {
	var ps []Process
	for _, p := range s.Processes() {
		if p.Pid != s.Pid() {
			ps = append(ps, p)
		}
	}
	return ps
}

// drain waits up to d for the output pipe to reach EOF, then closes it.
func (s *Server) drain(d time.Duration) {
	select {
	case <-s.copied:
	case <-time.After(d):
	}
	s.outR.Close()
}

// Processes returns the processes of the run that are alive, the main process included: those in the
// server's process group, those that inherited its environment (a daemon that left the group), and
// their descendants. Zombies do not count; those that are our children are reaped.
func (s *Server) Processes() []Process {
	var ps []Process
	alive, _ := s.find()
	for _, p := range alive {
		ps = append(ps, Process{Pid: p.pid, Cmdline: cmdline(p.pid)})
	}
	return ps
}

// Leftovers returns the processes of the run that are alive, other than the main process. Once Stop has
// been called, it also kills them by pid, and waits (up to about 2 s) until they are gone.
func (s *Server) Leftovers() []Process {
	if !s.stopped.Load() {
		return s.others()
	}
	var ps []Process
	seen := map[int]bool{}
	for range 40 {
		alive, unreaped := s.find()
		if len(alive) == 0 && unreaped == 0 {
			break
		}
		for _, p := range alive {
			if !seen[p.pid] {
				seen[p.pid] = true
				ps = append(ps, Process{Pid: p.pid, Cmdline: cmdline(p.pid)})
			}
			kill(p)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ps
}

// find returns the live processes of the run, and reaps its zombies that are our children; unreaped
// counts those that could not be reaped yet.
func (s *Server) find() (alive []procStat, unreaped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.known == nil {
		s.known = map[int]uint64{}
	}
	all := allProcs()
	self := os.Getpid()
	// The group id is trusted only until the main process is reaped: after that it may name another group.
	groupValid := !s.stopped.Load()
	member := map[int]bool{}
	for _, p := range all {
		if p.pid == self || p.start < s.start {
			continue
		}
		// A zombie's environment can no longer be read: it is recognised from when it was alive.
		if start, ok := s.known[p.pid]; ok && start == p.start || groupValid && p.pgid == s.Pid() || hasEnv(p.pid, s.marker) {
			member[p.pid] = true
		}
	}
	// Descendants belong to the run even if they cleared their environment.
	for grew := true; grew; {
		grew = false
		for _, p := range all {
			if !member[p.pid] && member[p.ppid] && p.pid != self {
				member[p.pid], grew = true, true
			}
		}
	}
	for _, p := range all {
		switch {
		case !member[p.pid]:
		case p.state == 'Z' || p.state == 'X':
			if p.ppid == self && p.pid != s.Pid() && !reap(p.pid) {
				unreaped++
			}
		default:
			s.known[p.pid] = p.start
			alive = append(alive, p)
		}
	}
	return alive, unreaped
}

// outputBuffer keeps the first and the last limit/2 bytes written to it, and counts the rest. Its Write
// never blocks on a reader and never fails, so a server that floods its output cannot stall.
type outputBuffer struct {
	mu    sync.Mutex
	half  int
	head  []byte
	tail  []byte // the last bytes; may grow to 2*half before it is cut
	total int64
}

func newOutputBuffer(limit int) *outputBuffer { return &outputBuffer{half: max(limit/2, 1)} }

func (b *outputBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total += int64(len(p))
	n := len(p)
	if room := b.half - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	b.tail = append(b.tail, p...)
	if len(b.tail) > 2*b.half {
		b.tail = append(b.tail[:0:0], b.tail[len(b.tail)-b.half:]...)
	}
	return n, nil
}

// String returns the head, a line saying how many bytes were dropped if any were, and the tail.
func (b *outputBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	tail := b.tail[max(len(b.tail)-b.half, 0):]
	dropped := b.total - int64(len(b.head)) - int64(len(tail))
	if dropped == 0 {
		return string(b.head) + string(tail)
	}
	return fmt.Sprintf("%s\n[... %d bytes of output dropped ...]\n%s", b.head, dropped, tail)
}

// Tail returns the last n bytes written (fewer if fewer were kept).
func (b *outputBuffer) Tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	all := append(append([]byte{}, b.head...), b.tail...)
	if int64(len(all)) < b.total {
		all = b.tail
	}
	return string(all[max(len(all)-n, 0):])
}
