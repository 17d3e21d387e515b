// Command load generates HTTP/1.1 load against a server on this machine and
// reports its throughput and latency, in the manner of wrk.
//
// Usage:
//
//	load [-c N] [-d D] [-n N] [-rate R] [-pipeline P] [-timeout T]
//	     [-H 'Name: value']... [-m METHOD] [-body STR] [-json] http://127.0.0.1:PORT/path
//
// It runs for 10 seconds unless -d or -n says otherwise; with both, whichever
// comes first ends the run.
// Only loopback addresses (127.0.0.0/8, ::1, localhost) are accepted. With
// -json it prints one JSON object with "rps", "requests", "errors" and the
// latency percentiles in milliseconds. An interrupt stops the run early and
// still prints what was measured. The exit status is 1 if no response came,
// 2 for bad usage.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"course/harness"
	"course/harness/load"
)

// headers collects repeated -H flags.
type headers []string

func (h *headers) String() string { return strings.Join(*h, ", ") }

func (h *headers) Set(v string) error {
	name, _, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("header %q: want 'Name: value'", v)
	}
	*h = append(*h, v)
	return nil
}

func main() { os.Exit(run()) }

// run runs the command and returns its exit status.
func run() int {
	var hdrs headers
	conns := flag.Int("c", 10, "`connections` to keep open")
	duration := flag.Duration("d", 0, "stop after this `duration` (default 10s without -n)")
	requests := flag.Int64("n", 0, "stop after this many `requests` (0: only -d bounds the run)")
	rate := flag.Float64("rate", 0, "open loop at this many `requests/s` in all (0: closed loop)")
	pipeline := flag.Int("pipeline", 1, "`requests` in flight per connection")
	timeout := flag.Duration("timeout", load.DefaultTimeout, "per-response `timeout`")
	method := flag.String("m", "GET", "request `method`")
	body := flag.String("body", "", "request `body`")
	asJSON := flag.Bool("json", false, "print the result as JSON")
	retry := flag.Bool("retry", false, "send again, once, a request that a kept-alive connection closed before any byte of its response (counted as a retry, not an error)")
	flag.Var(&hdrs, "H", "add a request `header` 'Name: value' (repeatable)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: load [flags] http://127.0.0.1:PORT/path\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		return 2
	}

	if *duration == 0 && *requests == 0 {
		*duration = 10 * time.Second
	}
	addr, req, err := request(flag.Arg(0), *method, hdrs, *body)
	if err != nil {
		fmt.Fprintf(os.Stderr, "load: %v\n", err)
		return 2
	}
	cfg := load.Config{
		Addr:     addr,
		Conns:    *conns,
		Duration: *duration,
		Requests: *requests,
		Rate:     *rate,
		Request:  req,
		Pipeline: *pipeline,
		Timeout:  *timeout,
		Retry:    *retry,
	}
	if isTerminal(os.Stderr) && !*asJSON {
		cfg.Progress = os.Stderr
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if !*asJSON {
		fmt.Printf("Running @ %s, %d connections\n", flag.Arg(0), *conns)
	}
	res, err := load.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if *asJSON {
		err = writeJSON(os.Stdout, flag.Arg(0), *conns, res)
	} else {
		_, err = fmt.Print(res)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "load: writing the result: %v\n", err)
		return 1
	}
	if res.Requests == 0 {
		fmt.Fprintln(os.Stderr, "load: no response")
		return 1
	}
	return 0
}

// request checks that rawURL names a loopback http server and serializes the
// request to send it.
func request(rawURL, method string, hdrs headers, body string) (addr string, req []byte, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", nil, err
	}
	if u.Scheme != "http" {
		return "", nil, fmt.Errorf("%s: only http:// URLs are supported", rawURL)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	}
	if !harness.IsLoopback(host) {
		return "", nil, fmt.Errorf("refusing to load %s: %q is not a loopback address; "+
			"this tool only loads servers on this machine (127.0.0.1, ::1, localhost)", rawURL, host)
	}
	if method == "" || strings.ContainsAny(method, " \r\n") {
		return "", nil, fmt.Errorf("bad method %q", method)
	}

	h := slices.Clone(hdrs)
	if body != "" || method == "POST" || method == "PUT" {
		h = append(h, "Content-Length: "+strconv.Itoa(len(body)))
	}
	req = append(harness.RequestTo(u.Host, method, u.RequestURI(), h...), body...)
	return net.JoinHostPort(host, port), req, nil
}

// report is the -json output.
type report struct {
	URL         string           `json:"url"`
	Connections int              `json:"connections"`
	Duration    float64          `json:"duration_s"`
	Requests    int64            `json:"requests"`
	RPS         float64          `json:"rps"`
	Bytes       int64            `json:"bytes"`
	Status      map[int]int64    `json:"status"`
	Errors      map[string]int64 `json:"errors"`
	Reconnects  int64            `json:"reconnects"`
	Retries     int64            `json:"retries"`
	Latency     latencyMS        `json:"latency_ms"`
}

type latencyMS struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func writeJSON(w io.Writer, rawURL string, conns int, res *load.Result) error {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	l := res.Latency
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(report{
		URL:         rawURL,
		Connections: conns,
		Duration:    res.Duration.Seconds(),
		Requests:    res.Requests,
		RPS:         res.RPS,
		Bytes:       res.Bytes,
		Status:      res.Status,
		Errors:      res.Errors,
		Reconnects:  res.Reconnects,
		Retries:     res.Retries,
		Latency: latencyMS{
			P50: ms(l.P50), P90: ms(l.P90), P99: ms(l.P99), P999: ms(l.P999), Max: ms(l.Max), Mean: ms(l.Mean),
		},
	})
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
