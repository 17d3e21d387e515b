// Command hello is a minimal net/http server that answers "Hello, World!\n"
// on every path: the reference server that benchmarks compare chapter servers
// with.
//
// Usage:
//
//	hello [-addr 127.0.0.1:PORT]
//
// It prints "listening on ADDR" once it accepts connections (with port 0, ADDR
// says which port it got) and shuts down on SIGTERM or SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

var hello = []byte("Hello, World!\n")

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen on `host:port` (port 0 picks a free port)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("hello: ")

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(serve),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("listening on %s\n", ln.Addr())

	select {
	case err := <-served:
		log.Fatal(err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		log.Printf("shutdown: %v", err)
	}
}

func serve(w http.ResponseWriter, _ *http.Request) {
	// Setting the type saves net/http from sniffing it on every response.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(hello)
}
