package prefork

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// The environment variables and file descriptors of the protocol (see the package documentation).
const (
	EnvFD          = "PREFORK_FD"
	EnvHeartbeatFD = "PREFORK_HEARTBEAT_FD"
	EnvWorker      = "PREFORK_WORKER"
	EnvBeat        = "PREFORK_BEAT_MS"

	ListenerFD  = 3
	HeartbeatFD = 4
	FirstAppFD  = 5 // the first of Exec.Files
)

// The bytes a worker writes on its heartbeat pipe.
const (
	Ready = 'R' // once, when it serves
	Beat  = '.' // every beat interval while it makes progress
)

// BeatInterval returns the beat interval for a master that kills a worker silent for timeout: a quarter of
// it, so that a worker making progress is never near the limit, and at most a second, so that a worker soon
// notices that the master is gone (it notices when a beat fails). It is a second when timeout is 0 (never
// kill), and at least 10 ms.
func BeatInterval(timeout time.Duration) time.Duration {
	if timeout <= 0 {
		return time.Second
	}
	return min(max(timeout/4, 10*time.Millisecond), time.Second)
}

// Exec is the Spawner that starts workers as processes: it executes a program with the listening socket at
// fd 3, the write end of a heartbeat pipe at fd 4, Files from fd 5 on, and the protocol's environment.
type Exec struct {
	Listener *os.File      // the listening socket, as Listen returns it
	Beat     time.Duration // the beat interval the workers are told
	// Path is the program to run, and Args its arguments (without the program's name). An empty Path means
	// this process's own executable with this process's own arguments: a master that re-executes itself.
	Path string
	Args []string
	Env  []string // added to this process's environment
	Dir  string   // the working directory; "" for this process's
	// Files are more descriptors for the application, at fd 5, 6, ...
	Files []*os.File
	// Stdout and Stderr receive the workers' output; nil means this process's own.
	Stdout, Stderr io.Writer
}

// Spawn starts worker id and returns it once the program runs; the master then reads its beats.
func (e *Exec) Spawn(id int) (Process, error) {
	path, args := e.Path, e.Args
	if path == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("spawn worker %d: %w", id, err)
		}
		path, args = self, os.Args[1:]
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("spawn worker %d: heartbeat pipe: %w", id, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = e.Dir
	cmd.Env = append(os.Environ(), e.Env...)
	cmd.Env = append(cmd.Env,
		EnvFD+"="+strconv.Itoa(ListenerFD),
		EnvHeartbeatFD+"="+strconv.Itoa(HeartbeatFD),
		EnvWorker+"="+strconv.Itoa(id),
		EnvBeat+"="+strconv.FormatInt(e.Beat.Milliseconds(), 10),
	)
	ln, err := inheritable(e.Listener)
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("spawn worker %d: %w", id, err)
	}
	defer ln.Close()
	// ExtraFiles[i] becomes fd 3+i in the child; every other fd of ours is close-on-exec.
	cmd.ExtraFiles = append([]*os.File{ln, w}, e.Files...)
	cmd.Stdout, cmd.Stderr = e.Stdout, e.Stderr
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	err = cmd.Start()
	// The worker has its copy of the write end. Ours must go, or the pipe
	// would never reach end of file when the worker exits.
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("spawn worker %d: %w", id, err)
	}
	return NewProcess(cmd, r), nil
}

// NewProcess returns the Process of a worker that cmd has started, whose beats come on the read end of its
// heartbeat pipe, beats. Wait reaps the worker (no zombie is left) and closes beats.
func NewProcess(cmd *exec.Cmd, beats *os.File) Process { return &process{cmd: cmd, beats: beats} }

// process is a worker started with os/exec.
type process struct {
	cmd   *exec.Cmd
	beats *os.File
}

func (p *process) Pid() int                   { return p.cmd.Process.Pid }
func (p *process) Beats() io.Reader           { return p.beats }
func (p *process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }
func (p *process) Wait() error {
	err := p.cmd.Wait()
	p.beats.Close()
	return err
}

// inheritable returns a duplicate of the socket in f to put in a child's ExtraFiles, one that leaves the socket
// in non-blocking mode. os/exec takes each file's descriptor with Fd, and Fd of a socket file that package net
// made (Listener.File) switches it to blocking mode first. The mode belongs to the socket, shared by every
// process that holds it: until a new worker switched it back, an accept in any worker would block in the
// kernel, out of reach of Go's poller, and a worker that never started left it so for good (its siblings then
// could not stop). Fd of a file made by os.NewFile leaves the mode alone.
func inheritable(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("the listening socket: %w", err)
	}
	dup := -1
	if err := rc.Control(func(fd uintptr) { dup, err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, fmt.Errorf("the listening socket: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("the listening socket: dup: %w", err)
	}
	return os.NewFile(uintptr(dup), f.Name()), nil
}
