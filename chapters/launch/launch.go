// Package launch is the common command line of the course's servers: the flags every chapter's server takes
// (the grader passes them), and a main that stops the server on SIGTERM or Ctrl-C.
package launch

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"course/chapters/http1"
)

// Config is what every server is told on its command line.
type Config struct {
	Addr          string        // where to listen: "127.0.0.1:8080"
	HeaderTimeout time.Duration // a client has this long to send a whole request head
	IdleTimeout   time.Duration // a keep-alive connection may wait this long for its next request
	BodyTimeout   time.Duration // reading the request body may take this long
	WriteTimeout  time.Duration // writing a response may take this long
	MaxBody       int64         // the largest request body accepted (413 beyond)
	Worker        string        // the worker id the app shows at /pid
}

// Limits returns the request limits for this configuration.
func (c *Config) Limits() http1.Limits {
	lim := http1.DefaultLimits
	lim.MaxBody = c.MaxBody
	return lim
}

// Register adds the common flags to fs and returns the Config they fill in when fs is parsed. The defaults
// are those of a server in production; the grader passes short timeouts so that grading is fast.
func Register(fs *flag.FlagSet) *Config {
	c := &Config{}
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "listen on this `host:port`")
	fs.DurationVar(&c.HeaderTimeout, "header-timeout", 10*time.Second, "time a client has to send a whole request head")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 15*time.Second, "time an idle keep-alive connection is kept open")
	fs.DurationVar(&c.BodyTimeout, "body-timeout", 30*time.Second, "time allowed to read a request body")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", 30*time.Second, "time allowed to write a response")
	fs.Int64Var(&c.MaxBody, "max-body", http1.DefaultLimits.MaxBody, "largest request body accepted, in `bytes`")
	fs.StringVar(&c.Worker, "worker", "0", "worker id shown by /pid")
	return c
}

// Main parses the command line and calls run with a context that is cancelled on SIGTERM or SIGINT. It exits
// with status 1 if run fails, and 0 when run returns after the signal.
func Main(run func(ctx context.Context) error) {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[0], err)
		os.Exit(1)
	}
}
