package main

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
)

// Step 4: one socket, one queue.

func TestStep4Listen(t *testing.T) {
	const backlog = 3
	sock := socketPath(t)
	f, err := listenGroup(sock, backlog)
	if err != nil {
		t.Fatalf("listenGroup: %v", err)
	}
	defer f.Close()
	t.Run("a UNIX socket only its owner may use", func(t *testing.T) {
		fi, err := os.Stat(sock)
		if err != nil {
			t.Fatalf("no socket at %s: %v", sock, err)
		}
		if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v, want a socket with mode 0600 (srw-------)", sock, fi.Mode())
		}
	})
	t.Run("the file is the listening socket", func(t *testing.T) {
		ln, err := net.FileListener(f)
		if err != nil {
			t.Fatalf("the file listenGroup returned is not a listening socket: %v", err)
		}
		ln.Close() // a copy: f stays open
	})
	t.Run("a queue of backlog connections", func(t *testing.T) {
		// Nobody accepts: the kernel queues backlog+1 connections, and a connect to the full queue fails at once.
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := range backlog + 1 {
			c, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatalf("connection %d of %d to a socket listening with a backlog of %d: %v", i+1, backlog+1, backlog, err)
			}
			conns = append(conns, c)
		}
		if c, err := net.Dial("unix", sock); !errors.Is(err, syscall.EAGAIN) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("connection %d to a socket listening with a backlog of %d: %v, want EAGAIN (the queue is full): "+
				"listen with the backlog asked for (net.Listen asks for the largest the kernel allows)", backlog+2, backlog, err)
		}
	})
}
