package slides

import (
	"bytes"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMakeSlidesStops starts `make slides` and stops make by its pid, as an editor or a script does: present
// must stop with it and free its port, or the next `make slides` fails with "address already in use".
func TestMakeSlidesStops(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()

	var out bytes.Buffer
	cmd := exec.Command("make", "-s", "-C", "../..", "slides", "SLIDES_HTTP="+addr)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever is left of it, present included

	// The first run builds present: allow for it on a loaded machine. out is read once make has exited.
	deadline := time.Now().Add(3 * time.Minute)
	for !accepts(addr) {
		select {
		case err := <-exited:
			t.Fatalf("make slides exited before serving %s: %v\n%s", addr, err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			t.Fatalf("make slides does not serve %s after 3 minutes:\n%s", addr, out.String())
		}
	}

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("make slides still running 10 s after SIGTERM")
	}
	for end := time.Now().Add(5 * time.Second); accepts(addr); time.Sleep(50 * time.Millisecond) {
		require.True(t, time.Now().Before(end), "%s still served 5 s after make slides was stopped: present "+
			"outlived make", addr)
	}
}

func accepts(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}
