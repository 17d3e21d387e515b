package spec

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
)

// serverEnv makes the test binary run as the server under test: Run starts servers as processes, so the
// tests start this binary again, which serves a few canned answers on 127.0.0.1.
const serverEnv = "SPEC_TEST_SERVER"

// muteEnv makes the fake server accept connections and never answer.
const muteEnv = "SPEC_TEST_MUTE"

// deafEnv makes the fake server ignore SIGTERM.
const deafEnv = "SPEC_TEST_DEAF"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		os.Exit(fakeServer(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeServer serves, one connection at a time: GET /hello, "Hello, World!\n"; GET /hang, nothing ever;
// GET /exit, the process exits with status 3; GET /spawn starts a process that escapes the server's
// process group and answers 204; GET /child starts one in the group that ignores SIGTERM and answers 204; GET /race prints a race detector's report and answers 204; anything
// else, 404.
func fakeServer(args []string) int {
	fs := flag.NewFlagSet("fake", flag.ContinueOnError)
	addr := fs.String("addr", "", "listen address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("fake server listening on", *addr)
	if os.Getenv(deafEnv) == "1" {
		signal.Ignore(syscall.SIGTERM)
	}
	var mute []net.Conn // with muteEnv set: connections accepted and never answered
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		if os.Getenv(muteEnv) == "1" {
			mute = append(mute, c)
			continue
		}
		serveFake(c)
	}
}

func serveFake(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		for {
			h, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if h == "\r\n" {
				break
			}
		}
		switch strings.Fields(line)[1] {
		case "/hello":
			fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nHello, World!\n")
		case "/hang":
			select {}
		case "/spawn":
			cmd := exec.Command("sleep", "30")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			if err := cmd.Start(); err != nil {
				fmt.Fprint(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
				continue
			}
			fmt.Fprint(c, "HTTP/1.1 204 No Content\r\n\r\n")
		case "/child":
			// A child in the server's process group that ignores SIGTERM: it outlives the server.
			cmd := exec.Command("sh", "-c", `trap "" TERM; exec sleep 31`)
			if err := cmd.Start(); err != nil {
				fmt.Fprint(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
				continue
			}
			fmt.Fprint(c, "HTTP/1.1 204 No Content\r\n\r\n")
		case "/race":
			fmt.Fprint(os.Stderr, fakeRace)
			fmt.Fprint(c, "HTTP/1.1 204 No Content\r\n\r\n")
		case "/exit":
			fmt.Println("fake server exiting on request")
			os.Exit(3)
		default:
			fmt.Fprint(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
		}
	}
}

// fakeRace is a report of the race detector, as a server built with -race prints it.
const fakeRace = `==================
WARNING: DATA RACE
Read at 0x00c0000964b8 by goroutine 13:
  main.(*racy).Add()
      /src/server.go:162 +0x30
  main.count()
      /src/app.go:218 +0x64
  main.dispatch()
      /src/app.go:147 +0x543
  main.serve()
      /src/app.go:133 +0x232

Previous write at 0x00c0000964b8 by goroutine 12:
  main.(*racy).Add()
      /src/server.go:162 +0x44

Goroutine 13 (running) created at:
  main.startWorker()
      /src/pool.go:82 +0xa5
==================
`
