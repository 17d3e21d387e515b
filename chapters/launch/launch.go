// Package launch is what every chapter's server does the same way: the common flags (the grader passes them),
// a main that runs the server with the test application and stops it on SIGTERM or Ctrl-C, and the listening
// socket.
package launch

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"course/chapters/app"
	"course/chapters/gateway"
	"course/chapters/http1"
)

// Config is what every server is told on its command line, and the data its server gives the app.
type Config struct {
	Addr          string        // where to listen: "127.0.0.1:8080"
	HeaderTimeout time.Duration // a client has this long to send a whole request head
	IdleTimeout   time.Duration // a keep-alive connection may wait this long for its next request
	BodyTimeout   time.Duration // reading the request body may take this long
	WriteTimeout  time.Duration // writing a response may take this long
	MaxBody       int64         // the largest request body accepted (413 beyond)
	Worker        string        // the worker id the app shows at /pid
	// Counter is the data the app's /counter shares between requests. It is no flag: the server's code sets
	// it, because whether it needs protecting depends on how the server runs the app. Nil gives the app a
	// counter under a mutex (app.NewLockedCounter).
	Counter app.Counter
}

// App returns the test application with this configuration: its worker id, and its counter.
func (c *Config) App() gateway.App {
	return app.New(app.Options{Worker: c.Worker, Counter: c.Counter})
}

// Limits returns the request limits for this configuration.
func (c *Config) Limits() http1.Limits {
	lim := http1.DefaultLimits
	lim.MaxBody = c.MaxBody
	return lim
}

// HTTP1 returns the connection server of chapter 1 with this configuration, serving app as described by gw.
func (c *Config) HTTP1(gw gateway.Server, app gateway.App) *http1.Server {
	return &http1.Server{
		Limits:        c.Limits(),
		HeaderTimeout: c.HeaderTimeout,
		IdleTimeout:   c.IdleTimeout,
		BodyTimeout:   c.BodyTimeout,
		WriteTimeout:  c.WriteTimeout,
		Gateway:       gw,
		App:           app,
	}
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

// PoolConfig is what a server with a pool of workers is told on its command line (chapter 2 on).
type PoolConfig struct {
	Workers         int           // application calls that run at once
	Queue           int           // requests that may wait for a worker; beyond, 503
	QueueTimeout    time.Duration // a request that waited longer is answered 503, not run
	RequestTimeout  time.Duration // an application call that runs longer is answered 504
	ShutdownTimeout time.Duration // on SIGTERM, requests in flight get this long to finish
}

// RegisterPool adds the flags of a server with a pool of workers to fs. The defaults are of the order of
// those of waitress (4 threads), gunicorn's gthread worker and Apache's worker MPM, scaled to a small machine.
func RegisterPool(fs *flag.FlagSet) *PoolConfig {
	c := &PoolConfig{}
	fs.IntVar(&c.Workers, "workers", 8, "application calls that run at once: the size of the worker pool")
	fs.IntVar(&c.Queue, "queue", 32, "requests that may wait for a worker; beyond, the answer is 503")
	fs.DurationVar(&c.QueueTimeout, "queue-timeout", 5*time.Second, "a request that waited longer for a worker is answered 503, not run")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", 30*time.Second, "an application call that runs longer is answered 504")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "on SIGTERM, requests in flight get this long to finish")
	return c
}

// Server is a chapter's server: it serves app with the configuration cfg until ctx is cancelled.
type Server func(ctx context.Context, cfg *Config, app gateway.App) error

// Main parses the command line (the common flags and any the chapter registered on flag.CommandLine) and
// runs serve with the test application (cfg.App) and a context that is cancelled on SIGTERM or SIGINT. It
// exits with status 1 if serve fails, and 0 when serve returns after the signal.
func Main(cfg *Config, serve Server) {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := serve(ctx, cfg, cfg.App()); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
		os.Exit(1)
	}
}

// Accept waits for the next connection on ln. It fails only when the server is stopping (ctx is cancelled,
// which closes a listener from Listen) or ln was closed otherwise. Other errors, such as running out of file
// descriptors (EMFILE), are logged and retried after a pause: retrying at once would spin at 100% CPU on a
// call that keeps failing.
func Accept(ctx context.Context, ln net.Listener) (net.Conn, error) {
	for {
		conn, err := ln.Accept()
		if err == nil {
			return conn, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		log.Printf("accept: %v", err)
		time.Sleep(100 * time.Millisecond)
	}
}

// Listen opens a TCP listener on cfg.Addr, closed when ctx is cancelled (which is how a blocked Accept learns
// that it is time to stop), and describes the server to the gateway.
func Listen(ctx context.Context, cfg *Config) (net.Listener, gateway.Server, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, gateway.Server{}, err
	}
	context.AfterFunc(ctx, func() { ln.Close() })
	return ln, describe(ln), nil
}

// describe returns the gateway's description of a server listening on ln.
func describe(ln net.Listener) gateway.Server {
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return gateway.Server{Name: "127.0.0.1", Port: port, Errors: os.Stderr}
}
