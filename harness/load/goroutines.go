package load

import (
	"context"
	"io"
	"net"
	"sync"
	"time"
)

// connBuf is the read buffer of each connection of the goroutine engine.
const connBuf = 8 << 10

// longAgo is a deadline in the past: setting it wakes a blocked read or write.
var longAgo = time.Unix(1, 0)

// runGoroutines is the portable engine: a goroutine per connection doing
// blocking I/O on a net.Conn. In a closed loop each connection writes
// cfg.Pipeline requests at once and reads their responses, as wrk does.
func (r *runner) runGoroutines() error {
	shards := make([]*tally, min(r.cfg.Conns, maxShards))
	for i := range shards {
		shards[i] = r.newTally(r.cfg.Conns > maxShards)
	}
	var wg sync.WaitGroup
	for i := range r.cfg.Conns {
		c := &netSession{
			session: newSession(r, i, shards[i%len(shards)]),
			dialer:  net.Dialer{Timeout: r.cfg.Timeout},
			buf:     make([]byte, connBuf),
		}
		wg.Go(c.run)
	}
	wg.Wait()
	return nil
}

// netSession drives a session over a net.Conn.
type netSession struct {
	*session
	dialer   net.Dialer
	conn     net.Conn
	unwatch  func() bool // stops the context watch on conn
	deadline time.Time   // the deadline set on conn
	buf      []byte
	timer    *time.Timer
}

func (c *netSession) run() {
	defer c.close()
	r := c.r
	size := len(r.cfg.Request)
	for !r.stopped() {
		if c.conn == nil && r.spent() {
			return
		}
		if c.conn == nil && !c.dial() {
			if c.dialFailed() {
				return
			}
			c.sleepUntil(time.Now().Add(dialPause))
			continue
		}
		now := time.Now()
		n, wake, finished := c.want(now)
		if finished {
			return
		}
		if n > 0 {
			if !c.extendDeadline() {
				return
			}
			if _, err := c.conn.Write(r.batch[:n*size]); err != nil {
				c.fail(err, KindWrite)
				c.close()
			}
			continue
		}
		if c.inflight == 0 {
			if !c.sleepUntil(wake) {
				return
			}
			continue
		}
		// A response is due. In an open loop, a request that falls due
		// meanwhile waits for it, and its latency counts the wait.
		if !c.extendDeadline() {
			return
		}
		k, err := c.conn.Read(c.buf)
		now = time.Now()
		if k > 0 {
			closeConn, perr := c.received(c.buf[:k], now)
			if perr != nil {
				c.fail(perr, KindParse)
			}
			if closeConn {
				c.close()
				continue
			}
		}
		if err == io.EOF {
			err = c.closed(now)
			if err == nil {
				c.close()
				continue
			}
		}
		if err != nil {
			c.fail(err, KindRead)
			c.close()
		}
	}
}

func (c *netSession) dial() bool {
	conn, err := c.dialer.DialContext(c.r.ctx, "tcp", c.r.addr)
	if err != nil {
		return false
	}
	c.conn = conn
	c.deadline = time.Time{}
	// Wake a blocked read or write when the run stops.
	c.unwatch = context.AfterFunc(c.r.ctx, func() { conn.SetDeadline(longAgo) })
	c.connected()
	return true
}

func (c *netSession) close() {
	if c.conn == nil {
		return
	}
	c.unwatch()
	c.conn.Close()
	c.conn = nil
}

// extendDeadline keeps the connection's deadline within 10% of
// waitFrom+Timeout, and reports false if the run has stopped. The slack saves
// a timer update on most requests.
func (c *netSession) extendDeadline() bool {
	t := c.r.cfg.Timeout
	want := c.waitFrom.Add(t)
	if d := want.Sub(c.deadline); -t/10 <= d && d <= t/10 {
		return true
	}
	c.conn.SetDeadline(want)
	c.deadline = want
	// The stop may have set its past deadline just before ours replaced it.
	return !c.r.stopped()
}

// sleepUntil waits until t and reports false if the run stopped first.
func (c *netSession) sleepUntil(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return !c.r.stopped()
	}
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d)
	}
	select {
	case <-c.timer.C:
		return true
	case <-c.r.ctx.Done():
		c.timer.Stop()
		return false
	}
}
