package main

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"course/chapters/daemon"
	"course/chapters/gateway"
	"course/chapters/launch"
	"course/chapters/scgi"
)

// Step 6: the queue and its timeouts.

func TestStep6Dial(t *testing.T) {
	sock := socketPath(t)
	f, err := daemon.Listen(sock, 0) // a queue of one connection, and nobody accepts
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	first, err := dial(sock, wait)
	if err != nil {
		t.Fatalf("dial to a socket with room in its queue: %v", err)
	}
	defer first.Close()

	t.Run("the queue stays full: 503 after the connect timeout", func(t *testing.T) {
		const timeout = 400 * time.Millisecond
		start := time.Now()
		c, err := dial(sock, timeout)
		took := time.Since(start)
		if err == nil {
			c.Close()
			t.Fatalf("dial to a full queue succeeded")
		}
		if gateway.StatusOf(err) != 503 {
			t.Errorf("dial to a full queue returned %v (status %d), want an error with status 503", err, gateway.StatusOf(err))
		}
		if took < timeout {
			t.Errorf("dial to a full queue gave up after %v: it must try again until the connect timeout (%v) has passed",
				took.Round(time.Millisecond), timeout)
		}
		if took > timeout+time.Second {
			t.Errorf("dial to a full queue gave up after %v, long after the connect timeout of %v", took.Round(time.Millisecond), timeout)
		}
	})
	t.Run("a place frees up: connected", func(t *testing.T) {
		ln, err := net.FileListener(f)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			time.Sleep(300 * time.Millisecond)
			if c, err := ln.Accept(); err == nil {
				c.Close()
			}
		}()
		c, err := dial(sock, wait)
		if err != nil {
			t.Fatalf("dial while a place frees up in the queue 300 ms later: %v: try again while the queue is full", err)
		}
		c.Close()
	})
	t.Run("no socket: 503 at once", func(t *testing.T) {
		start := time.Now()
		_, err := dial(socketPath(t), wait)
		if gateway.StatusOf(err) != 503 || time.Since(start) > wait/2 {
			t.Fatalf("dial to a path with no socket: %v after %v, want an error with status 503, at once", err, time.Since(start))
		}
	})
}

func TestStep6Stamp(t *testing.T) {
	env := environOf(t, "GET", "/", strings.NewReader(""), 0, gateway.Header{Name: "X-Request-Start", Value: "t=1"})
	now := time.Unix(1700000000, 250000000)
	stamp(env, now)
	if got, want := env.Get("HTTP_X_REQUEST_START"), "t=1700000000250000"; got != want {
		t.Fatalf("after stamp, HTTP_X_REQUEST_START is %q, want %q (the client's t=1 replaced)", got, want)
	}
	for _, tt := range []struct {
		value  string
		waited time.Duration
		ok     bool
	}{
		{"t=1700000000250000", 1500 * time.Millisecond, true},
		{"t=1699999999000000", 2750 * time.Millisecond, true},
		{"", 0, false},
		{"t=", 0, false},
		{"1700000000250000", 0, false},
		{"t=soon", 0, false},
	} {
		env := &gateway.Environ{Vars: map[string]string{}}
		if tt.value != "" {
			env.Vars["HTTP_X_REQUEST_START"] = tt.value
		}
		waited, ok := queued(env, now.Add(1500*time.Millisecond))
		if ok != tt.ok || ok && waited != tt.waited {
			t.Errorf("queued with HTTP_X_REQUEST_START %q, 1.5s after the stamp: %v, %v; want %v, %v", tt.value, waited, ok, tt.waited, tt.ok)
		}
	}
}

func TestStep6QueueTimeout(t *testing.T) {
	g := yourGroup(t, launch.DaemonConfig{Processes: 1, Threads: 1, QueueTimeout: 300 * time.Millisecond})
	var wg sync.WaitGroup
	wg.Go(func() { viaFront(t, g.reference(), "GET", "/sleep?ms=900", "") })
	time.Sleep(150 * time.Millisecond)
	a := viaFront(t, g.reference(), "GET", "/counter", "")
	wg.Wait()
	if a.code != 504 {
		t.Errorf("GET /counter, which waited 750 ms behind a request of 900 ms, with a queue timeout of 300 ms: %d %q, want 504", a.code, a.body)
	}
	if a = viaFront(t, g.reference(), "GET", "/counter", ""); a.body != "1\n" {
		t.Errorf("GET /counter answered %q after a GET /counter that timed out in the queue: want \"1\\n\", the app must not "+
			"run for a request answered 504", a.body)
	}
	big := strings.Repeat("x", 1<<20)
	wg.Go(func() { viaFront(t, g.reference(), "GET", "/sleep?ms=600", "") })
	time.Sleep(150 * time.Millisecond)
	if a = viaFront(t, g.reference(), "POST", "/echo", big); a.code != 504 {
		t.Errorf("POST /echo of %d bytes, which waited 450 ms behind a request of 600 ms: %d, want 504 (read its body before you "+
			"answer: a socket closed with bytes unread is reset, and the front end loses the answer)", len(big), a.code)
	}
	wg.Wait()
}

func TestStep6SocketTimeout(t *testing.T) {
	t.Run("a daemon that sends nothing: 504", func(t *testing.T) {
		sock := silentDaemon(t, func(c net.Conn) {
			scgi.ReadRequest(bufio.NewReader(c), scgi.DefaultLimits)
			time.Sleep(2 * wait)
		})
		h := &hop{socket: sock, connectTimeout: wait, socketTimeout: 300 * time.Millisecond}
		start := time.Now()
		_, err := h.app(environOf(t, "GET", "/hello", strings.NewReader(""), 0), noStart)
		took := time.Since(start)
		if gateway.StatusOf(err) != 504 || took > 2*time.Second {
			t.Fatalf("a daemon that sends nothing, with a socket timeout of 300 ms: app returned %v (status %d) after %v, "+
				"want an error with status 504 after about 300 ms", err, gateway.StatusOf(err), took.Round(time.Millisecond))
		}
	})
	t.Run("a daemon that stops in the middle of the body: an error", func(t *testing.T) {
		sock := silentDaemon(t, func(c net.Conn) {
			scgi.ReadRequest(bufio.NewReader(c), scgi.DefaultLimits)
			io.WriteString(c, "Status: 200 OK\r\n\r\nthe beginning")
			time.Sleep(2 * wait)
		})
		h := &hop{socket: sock, connectTimeout: wait, socketTimeout: 300 * time.Millisecond}
		b, err := h.app(environOf(t, "GET", "/stream", strings.NewReader(""), 0), func(string, []gateway.Header) error { return nil })
		if err != nil {
			t.Fatalf("app: %v", err)
		}
		defer b.Close()
		start := time.Now()
		for {
			_, err := b.Next()
			if err == io.EOF {
				t.Fatalf("next returned io.EOF for a daemon that stopped sending: the body would look complete")
			}
			if err != nil {
				break
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("next still waits %v after the daemon stopped sending, with a socket timeout of 300 ms", time.Since(start))
			}
		}
	})
}

// TestStep6Real fills the queue of a real front end: one daemon of one thread busy, one request in the
// socket's queue (-listen-backlog 0), and the next gets 503 after -connect-timeout.
func TestStep6Real(t *testing.T) {
	srv := startFront(t, "-daemon", "go", "-processes", "1", "-threads", "1", "-listen-backlog", "0", "-connect-timeout", "500ms")
	daemons(t, srv, 1)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range codes {
		wg.Go(func() { codes[i] = get(t, srv, "/sleep?ms=1500").Status })
		time.Sleep(200 * time.Millisecond)
	}
	start := time.Now()
	r := get(t, srv, "/hello")
	took := time.Since(start)
	wg.Wait()
	if r.Status != 503 || took < 450*time.Millisecond || took > 1400*time.Millisecond {
		t.Errorf("with the daemon's thread busy and its queue full, GET /hello got %d after %v, want 503 after -connect-timeout 500ms",
			r.Status, took.Round(time.Millisecond))
	}
	if codes[0] != 200 || codes[1] != 200 {
		t.Errorf("the request being served and the one in the queue got %s, want 200 both: a request in the queue waits its turn",
			strconv.Itoa(codes[0])+" and "+strconv.Itoa(codes[1]))
	}
}
