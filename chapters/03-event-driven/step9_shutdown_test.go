package main

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Step 9: shutdown. README: "Step 9: shutdown".

func TestStep9Shutdown(t *testing.T) {
	t.Run("beginStop closes the listener and the idle connections, and gives the others until l.grace from now", func(t *testing.T) {
		l := newTestLoop(t, setup{})
		addr := listening(t, l)
		idleConn, _ := pair(t, l, t0)
		busyConn, _ := pair(t, l, t0)
		busyConn.state = busy
		l.pauseAccept(t0)
		if !within(t, 2*time.Second, "beginStop", func() { l.beginStop(t0) }) {
			return
		}
		if l.lfd != -1 {
			t.Errorf("after beginStop, l.lfd is %d; want -1, the listener closed", l.lfd)
		}
		if fd, err := dialFD(addr); err == nil {
			unix.Close(fd)
			t.Error("a client could still connect after beginStop: close the listener, and new clients are refused at once (the other servers of a group take them)")
		}
		if !l.acceptAt.IsZero() {
			t.Errorf("after beginStop, an accept pause is still set (l.acceptAt %v): wait would wake for it, and expire put the closed listener back", l.acceptAt)
		}
		if !idleConn.closed || busyConn.closed {
			t.Errorf("after beginStop, the idle connection is closed %v, the busy one %v; want true and false", idleConn.closed, busyConn.closed)
		}
		if !l.stopping || !l.stopBy.Equal(t0.Add(l.grace)) {
			t.Errorf("after beginStop at t0, l.stopping is %v and l.stopBy %v; want true and t0 + l.grace (%v)", l.stopping, l.stopBy, t0.Add(l.grace))
		}
	})

	t.Run("on SIGTERM: idle connections close at once, a request in flight is answered, then run returns", func(t *testing.T) {
		srv, ps := start(t, setup{}, false, 3)
		idleConn, busyConn, halfConn := ps[0], ps[1], ps[2]
		busyConn.send(get("/sleep?ms=400"))
		halfConn.send("GET /hello HTTP/1.1\r\n")
		time.Sleep(100 * time.Millisecond)
		began := time.Now()
		srv.l.requestStop() // what SIGTERM does, through main.go
		idleConn.expectClosed(time.Second)
		if r := busyConn.response(); r.body != "slept 400 ms\n" {
			t.Errorf("the request in flight got %d %s; want its answer", r.status, show(r.body))
		}
		busyConn.expectClosed(time.Second)
		halfConn.send("Host: test\r\n\r\n")
		if r := halfConn.response(); r.header["Connection"] != "close" {
			t.Errorf("a request whose head was coming when the server was told to stop got Connection: %q; want close: it is answered, and its connection closed", r.header["Connection"])
		}
		select {
		case err := <-srv.done:
			srv.done <- err // for the cleanup
			if err != nil {
				t.Errorf("run returned %v; want nil, a clean stop", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("run did not return within 5s of the stop, with every connection closed")
		}
		if took := time.Since(began); took > 3*time.Second {
			t.Errorf("the stop took %v", took.Round(time.Millisecond))
		}
	})

	t.Run("past -shutdown-timeout, run returns, even with a request in flight", func(t *testing.T) {
		pc := poolOf(4, 16)
		pc.ShutdownTimeout = 300 * time.Millisecond
		srv, ps := start(t, setup{pool: pc}, false, 1)
		ps[0].send(get("/sleep?ms=1500"))
		time.Sleep(100 * time.Millisecond)
		began := time.Now()
		srv.l.requestStop()
		select {
		case err := <-srv.done:
			srv.done <- err
			if took := time.Since(began); took < 250*time.Millisecond {
				t.Errorf("run returned %v after the stop, before the request in flight had its -shutdown-timeout (300ms)", took.Round(time.Millisecond))
			}
		case <-time.After(3 * time.Second):
			t.Fatal("run did not return within 3s of a stop with -shutdown-timeout 300ms: past l.stopBy, it gives up on the requests in flight")
		}
	})
}
