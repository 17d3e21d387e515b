// Command idle measures what idle keep-alive connections cost a server: it reads the server's resident memory,
// opens N connections that each make one request and then stay open, idle, reads the memory again, and prints
// the difference per connection.
//
//	go run ./harness/cmd/idle -n 10000 -pid PID 127.0.0.1:8080
//
// The connections are to a loopback address only, and are closed when it exits. Raise the open file limit
// first (ulimit -n 65536), for this command and for the server.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"course/harness"
)

func main() {
	n := flag.Int("n", 10000, "idle connections to open (at most 100000)")
	pid := flag.Int("pid", 0, "the server's process id, to read its memory (and its children's) from /proc (required)")
	settle := flag.Duration("settle", 2*time.Second, "wait this long before reading the memory again")
	asJSON := flag.Bool("json", false, "print the result as JSON")
	flag.Parse()
	if flag.NArg() != 1 || *pid <= 0 || *n < 1 || *n > 100000 {
		fmt.Fprintln(os.Stderr, "usage: idle -n N -pid PID HOST:PORT (a loopback address; N at most 100000)")
		os.Exit(2)
	}
	addr := flag.Arg(0)
	if err := checkLoopback(addr); err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(2)
	}
	raiseFileLimit()

	before, err := rss(*pid)
	if err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
	conns := make([]net.Conn, 0, *n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	req := []byte("GET /hello HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	start := time.Now()
	for i := range *n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			fmt.Fprintf(os.Stderr, "idle: connection %d: %v\n", i+1, err)
			os.Exit(1)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(req); err != nil {
			fmt.Fprintf(os.Stderr, "idle: connection %d: %v\n", i+1, err)
			os.Exit(1)
		}
		if err := readResponse(bufio.NewReaderSize(c, 512)); err != nil {
			fmt.Fprintf(os.Stderr, "idle: connection %d: %v\n", i+1, err)
			os.Exit(1)
		}
		c.SetDeadline(time.Time{})
	}
	opened := time.Since(start)
	time.Sleep(*settle)
	after, err := rss(*pid)
	if err != nil {
		fmt.Fprintln(os.Stderr, "idle: the server is gone:", err)
		os.Exit(1)
	}
	per := float64(after-before) / float64(*n)
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(map[string]any{
			"conns": *n, "rss_before_kib": before, "rss_after_kib": after, "kib_per_conn": per,
		})
		return
	}
	fmt.Printf("%d idle connections opened in %v; server RSS %d KiB -> %d KiB: %.2f KiB per connection\n",
		*n, opened.Round(time.Millisecond), before, after, per)
}

// readResponse reads one response with a Content-Length body (the test application's /hello).
func readResponse(br *bufio.Reader) error {
	length := -1
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(value))
		}
	}
	if length < 0 {
		return fmt.Errorf("a response without Content-Length")
	}
	_, err := io.CopyN(io.Discard, br, int64(length))
	return err
}

// rss returns the resident memory in KiB of process pid and its children (nginx serves from the workers
// its master started).
func rss(pid int) (int64, error) {
	u, err := harness.ProcessUsage(pid)
	return u.RSS >> 10, err
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if !harness.IsLoopback(host) {
		return fmt.Errorf("%s is not a loopback address: this tool only measures servers on this machine", addr)
	}
	return nil
}

// raiseFileLimit lifts the soft limit on open files to the hard one.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}
