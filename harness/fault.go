package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Pipeline sends reqs back to back in a single write, so that they reach the server together.
func Pipeline(c *Conn, reqs ...[]byte) error {
	var b []byte
	for _, r := range reqs {
		b = append(b, r...)
	}
	if err := c.Send(b); err != nil {
		return fmt.Errorf("pipeline of %d requests: %w", len(reqs), err)
	}
	return nil
}

// Slowloris holds connections that each trickle a request head to the server, one byte at a time, as
// the slowloris attack does: a server that gives a thread, a worker or a buffer to each of them without
// a timeout stops answering anyone else.
type Slowloris struct {
	conns  []*Conn
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Int64
}

// TrickleHeaders opens n connections to addr and, on each, sends head one byte every interval until it
// is all sent, then holds the connection open. It runs until ctx is done or Stop is called; call Stop in
// any case to release its goroutines. A dial failure closes the connections already opened and returns
// the error.
func TrickleHeaders(ctx context.Context, addr string, n int, head []byte, every time.Duration) (*Slowloris, error) {
	s := &Slowloris{}
	for i := range n {
		c, err := Dial(addr, DefaultTimeout)
		if err != nil {
			for _, c := range s.conns {
				c.Close()
			}
			return nil, fmt.Errorf("slowloris: connection %d of %d: %w", i+1, n, err)
		}
		s.conns = append(s.conns, c)
	}
	ctx, s.cancel = context.WithCancel(ctx)
	for _, c := range s.conns {
		s.wg.Add(2)
		go s.trickle(ctx, c, head, every)
		go s.watch(c)
	}
	go func() {
		<-ctx.Done()
		for _, c := range s.conns {
			c.Close()
		}
	}()
	return s, nil
}

func (s *Slowloris) trickle(ctx context.Context, c *Conn, head []byte, every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(max(every, time.Millisecond))
	defer t.Stop()
	for i := range head {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := c.write(head[i : i+1]); err != nil {
			return
		}
	}
}

// watch reads (and drops) whatever the server sends until the connection ends, counting the
// connections that the server closed.
func (s *Slowloris) watch(c *Conn) {
	defer s.wg.Done()
	for {
		err := c.fill(time.Time{})
		c.buf = c.buf[:0]
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.closed.Add(1)
			}
			return
		}
	}
}

// Closed returns how many of the connections the server has closed (or reset) so far.
func (s *Slowloris) Closed() int { return int(s.closed.Load()) }

// Len returns how many connections were opened.
func (s *Slowloris) Len() int { return len(s.conns) }

// Stop stops trickling, closes every connection and waits for its goroutines to end.
func (s *Slowloris) Stop() {
	s.cancel()
	for _, c := range s.conns {
		c.Close()
	}
	s.wg.Wait()
}

// SlowReader connects to addr with a receive buffer of rcvbuf bytes and sends req. The caller then never
// reads (or reads slowly), so the response backs up into the server's socket buffers: a server that
// blocks on that write must not stop serving others.
func SlowReader(addr string, req []byte, rcvbuf int) (*Conn, error) {
	c, err := DialSmallBuffer(addr, rcvbuf, DefaultTimeout)
	if err != nil {
		return nil, fmt.Errorf("slow reader: %w", err)
	}
	if err := c.Send(req); err != nil {
		c.Close()
		return nil, fmt.Errorf("slow reader: %w", err)
	}
	return c, nil
}

// resetPause is how long ResetMidRequest waits between the half request and the reset, so that the
// server has read the first half when the RST comes.
const resetPause = 50 * time.Millisecond

// ResetMidRequest connects to addr, sends the first half of req and resets the connection.
func ResetMidRequest(addr string, req []byte) error {
	c, err := Dial(addr, DefaultTimeout)
	if err != nil {
		return fmt.Errorf("reset mid-request: %w", err)
	}
	if err := c.Send(req[:len(req)/2]); err != nil {
		c.Close()
		return fmt.Errorf("reset mid-request: %w", err)
	}
	time.Sleep(resetPause)
	if err := c.Reset(); err != nil {
		return fmt.Errorf("reset mid-request: %w", err)
	}
	return nil
}

// ResetMidResponse connects to addr, sends req (one that asks for a large body), reads until at least n
// bytes of the response have arrived and then resets the connection, while the server is still writing.
// It returns how many bytes arrived; the error says so when fewer than n arrived within timeout.
func ResetMidResponse(addr string, req []byte, n int, timeout time.Duration) (int, error) {
	c, err := Dial(addr, timeout)
	if err != nil {
		return 0, fmt.Errorf("reset mid-response: %w", err)
	}
	defer c.Reset()
	if err := c.Send(req); err != nil {
		return 0, fmt.Errorf("reset mid-response: %w", err)
	}
	deadline := time.Now().Add(orDefault(timeout))
	got := 0
	for got < n {
		err := c.fill(deadline)
		got += len(c.buf)
		c.buf = c.buf[:0]
		if err != nil {
			return got, fmt.Errorf("reset mid-response: %d of %d bytes arrived: %s", got, n, DescribeNetError(err))
		}
	}
	return got, nil
}
