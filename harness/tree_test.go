package harness

import (
	"net"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestChildrenSignalGone(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.Env = append(os.Environ(), "TREE_TEST=yes")
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	t.Cleanup(func() { cmd.Process.Kill() })

	require.Contains(t, Children(os.Getpid()), pid)
	require.Eventually(t, func() bool { return State(pid) == 'S' }, 5*time.Second, 10*time.Millisecond, "sleep sleeps")
	v, ok := Env(pid, "TREE_TEST")
	require.True(t, ok)
	require.Equal(t, "yes", v)
	require.False(t, Gone(pid))

	require.NoError(t, SignalPid(pid, syscall.SIGKILL))
	// Killed and not reaped, it is a zombie: no longer a live child, but one of the zombies, until Gone
	// reaps it.
	require.Eventually(t, func() bool { return State(pid) == 'Z' }, 5*time.Second, 10*time.Millisecond)
	require.NotContains(t, Children(os.Getpid()), pid)
	require.Contains(t, Zombies(os.Getpid()), pid)
	require.Empty(t, WaitGone([]int{pid}, 2*time.Second))
	require.Equal(t, byte(0), State(pid), "Gone reaps a zombie child")
	require.Error(t, SignalPid(pid, syscall.SIGKILL), "no such process")
}

func TestListeningSockets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	inodes, err := ListeningSockets(port)
	require.NoError(t, err)
	require.Len(t, inodes, 1)

	f, err := ln.(*net.TCPListener).File() // a second descriptor for the same socket
	require.NoError(t, err)
	defer f.Close()
	fds := SocketHolders(inodes[0], []int{os.Getpid()})[os.Getpid()]
	require.Len(t, fds, 2)
	require.True(t, slices.Contains(fds, int(f.Fd())))

	ln.Close()
	f.Close()
	inodes, err = ListeningSockets(port)
	require.NoError(t, err)
	require.Empty(t, inodes)
}
