// Command testserver is a tiny server whose misbehaviours the launcher tests need. -mode picks one:
//
//	serve       answer every request with "ok", exit 0 on SIGTERM
//	exit        print an error and exit with status 3 at once
//	nolisten    never listen
//	flood       write -flood bytes to stdout, then serve
//	noterm      ignore SIGTERM, serve
//	doublefork  start a child that starts a grandchild in a session of its own and exits, then serve
//	child       start a child in its process group, then serve; on SIGTERM, pass it on and wait for the child
//	badchild    the same, but the child ignores SIGTERM and the server exits without waiting for it
//
// Every wait is bounded, so that a failed test leaves nothing running for long.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	mode := flag.String("mode", "serve", "what to do")
	flood := flag.Int("flood", 8<<20, "bytes written to stdout in flood mode")
	flag.Parse()

	switch *mode {
	case "serve":
	case "exit":
		fmt.Fprintln(os.Stderr, "testserver: bad configuration")
		os.Exit(3)
	case "nolisten":
		fmt.Println("testserver: not listening")
		time.Sleep(time.Minute)
		return
	case "flood":
		line := []byte(strings.Repeat("x", 1023) + "\n")
		for n := 0; n < *flood; n += len(line) {
			os.Stdout.Write(line)
		}
		fmt.Println("testserver: flood done")
	case "noterm":
	case "doublefork":
		middle := exec.Command(self(), "-mode=middle")
		middle.Stdout = os.Stdout
		if err := middle.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "testserver: middle:", err)
			os.Exit(1)
		}
	case "middle":
		sleeper := exec.Command(self(), "-mode=sleeper")
		sleeper.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := sleeper.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "testserver: sleeper:", err)
			os.Exit(1)
		}
		fmt.Printf("sleeper pid %d\n", sleeper.Process.Pid)
		return
	case "sleeper":
		time.Sleep(2 * time.Minute)
		return
	case "child", "badchild":
		childMode := "-mode=termsleeper"
		if *mode == "badchild" {
			childMode = "-mode=stubborn"
		}
		child := exec.Command(self(), childMode) // in the server's process group
		if err := child.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "testserver: child:", err)
			os.Exit(1)
		}
		fmt.Printf("child pid %d\n", child.Process.Pid)
		serve(*addr, func() {
			child.Process.Signal(syscall.SIGTERM)
			if *mode == "child" {
				child.Wait()
			}
		})
		return
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(2 * time.Minute)
		return
	case "termsleeper":
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		select {
		case <-term:
		case <-time.After(2 * time.Minute):
		}
		return
	default:
		fmt.Fprintln(os.Stderr, "testserver: unknown mode", *mode)
		os.Exit(2)
	}
	var onTerm func()
	if *mode != "noterm" {
		onTerm = func() {}
	}
	serve(*addr, onTerm)
}

func self() string {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testserver:", err)
		os.Exit(1)
	}
	return exe
}

// serve answers on addr. On SIGTERM it calls onTerm and exits 0; it ignores SIGTERM if onTerm is nil.
func serve(addr string, onTerm func()) {
	// Handle SIGTERM before listening: the launcher may send it as soon as the port accepts.
	term := make(chan os.Signal, 1)
	if onTerm != nil {
		signal.Notify(term, syscall.SIGTERM)
	} else {
		signal.Ignore(syscall.SIGTERM)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testserver:", err)
		os.Exit(1)
	}
	fmt.Println("testserver: listening on", addr)
	go func() {
		<-term
		fmt.Println("testserver: SIGTERM, shutting down")
		onTerm()
		l.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(0)
		}
		go answer(c)
	}
}

// answer replies "ok" to each request head (requests have no body) until the client closes.
func answer(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		var head bytes.Buffer
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"))
	}
}
