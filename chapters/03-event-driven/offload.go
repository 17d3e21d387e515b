package main

import (
	"encoding/binary"
	"errors"
	"log"
	"sync"

	"golang.org/x/sys/unix"

	"course/chapters/gateway"
)

// The application is blocking, as a WSGI app is: it sleeps, computes, reads its input and returns when it
// has its answer. Run on the loop's thread, one /sleep?ms=300 would freeze every connection for 300 ms. So
// the loop hands each request to a small pool of workers (chapters/pool), and a worker hands the response back
// to the loop, chunk by chunk, through a reply: the hybrid of nginx's thread pools and Apache's event MPM.
//
// A worker and the loop share a reply under its mutex. The worker wakes the loop by writing to an eventfd that
// epoll watches next to the sockets, so the loop sleeps in epoll_wait until either a socket or a worker has
// news for it.

// errGone is what a worker's writes return once the loop has closed the connection (a timeout, a reset):
// gateway.Respond then stops, closes the app's body, and the worker is free again.
var errGone = errors.New("the connection was closed")

// reply is the response to one request: made by a pool worker, written to the socket by the loop. It is the
// io.Writer that the worker's gateway.Respond writes to: each Flush (one per chunk of the body) hands what was
// written to the loop, so that a streamed body streams.
type reply struct {
	l   *loop
	c   *conn
	req *gateway.Request

	mustClose bool   // the server is shutting down: the response says Connection: close
	w         []byte // written by the worker since its last Flush; the worker's alone

	mu      sync.Mutex
	cond    sync.Cond // the worker waits on it while the loop has too much to write
	flushed []byte    // handed over by the worker, not yet taken by the loop
	unsent  int       // taken by the loop, not yet written to the socket
	started bool      // the loop has had bytes of the response
	done    bool      // the reply is finished: the app returned, or the pool gave up on it
	ran     bool      // the app ran to its end
	res     gateway.Result
	err     error // Respond's error, or the pool's when it did not run the app, or gave up on it
	gone    bool  // the app must write no more: the loop closed the connection, or the pool gave up

	posted   bool // in the loop's ready list; guarded by l.mu, not mu
	finished bool // the loop has seen done; the loop's alone
}

func newReply(l *loop, c *conn, req *gateway.Request) *reply {
	r := &reply{l: l, c: c, req: req, mustClose: l.stopping}
	r.cond.L = &r.mu
	return r
}

// offload hands the request of c to a worker of the pool, without waiting for it.
//
// Step 4 (README: "Step 4: offloading the application"):
//   - the response in the making is a reply (newReply), which the worker writes and the loop reads: it is
//     c.reply until the request is over;
//   - count it in l.inPool (onReply, given, counts it out once it is done);
//   - hand the reply's run to the pool with its Go, which returns at once, and the reply's ended to hear how
//     the job ended: a worker runs it, or the pool gives up on it.
func (l *loop) offload(c *conn, req *gateway.Request) {
	// TODO(step 4)
	notWritten(4, "offload (offload.go)")
	l.close(c)
}

// ended hears from the pool how the job went. An error means the app did not run (the pool was full, or
// the request waited too long) or ran past the request timeout: the loop answers 503 or 504.
func (r *reply) ended(err error) {
	if err != nil {
		r.fail(err)
	}
}

// run is the job a pool worker runs: the app, through the gateway, writing into the reply. Building the
// environ is done here too: whatever the loop's thread does not have to do leaves it free for the sockets.
func (r *reply) run() {
	var res gateway.Result
	env, err := gateway.NewEnviron(r.req, r.l.gw)
	if err != nil {
		log.Printf("refused a request: %v", err)
		err = gateway.WriteError(r, gateway.StatusOf(err), err.Error(), true) // a Result that does not keep alive
	} else {
		res, err = gateway.Respond(r, r.req, env, r.l.app, r.mustClose)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return // the pool gave up on it (the request timeout): the loop has answered already
	}
	if len(r.w) > 0 && !r.gone {
		r.flushed = append(r.flushed, r.w...)
		r.started = true
	}
	r.w = nil
	r.done, r.ran, r.res, r.err = true, true, res, err
	r.l.post(r)
}

// fail records that the pool did not run the app (full, or the request waited too long), or gave up on it
// (it ran too long: it goes on running, abandoned, and must not write any more).
func (r *reply) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done, r.err, r.gone = true, err, true
	r.cond.Broadcast()
	r.l.post(r)
}

// Write buffers p until the next Flush. It runs on the worker.
func (r *reply) Write(p []byte) (int, error) {
	r.w = append(r.w, p...)
	return len(p), nil
}

// Flush hands what was written to the loop and wakes it. It runs on the worker, and blocks while the loop has
// maxOut bytes or more to write for this connection: backpressure. A client that reads slowly holds up the
// worker that makes its response (the app's body is pulled no faster than the client reads), not the loop,
// and the memory it takes stays bounded.
func (r *reply) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for !r.gone && len(r.flushed)+r.unsent >= maxOut {
		r.cond.Wait()
	}
	if r.gone {
		r.w = r.w[:0]
		return errGone
	}
	if len(r.flushed) == 0 {
		r.flushed, r.w = r.w, r.flushed[:0] // swap the buffers rather than copy
	} else {
		r.flushed = append(r.flushed, r.w...)
		r.w = r.w[:0]
	}
	r.started = true
	r.l.post(r)
	return nil
}

// take moves what the worker flushed to the connection's output, and reports whether the worker is done. It
// runs on the loop.
func (r *reply) take(c *conn) (done bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.flushed) > 0 {
		if c.unsent() == 0 {
			c.out, r.flushed, c.sent = r.flushed, c.out[:0], 0 // swap the buffers rather than copy
		} else {
			c.out = append(c.out, r.flushed...)
			r.flushed = r.flushed[:0]
		}
	}
	r.unsent = c.unsent()
	return r.done
}

// sent tells the worker how much the loop still has to write, waking it if that is under the bound now. It
// runs on the loop, after each write to the socket.
func (r *reply) sent(unsent int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unsent = unsent
	if len(r.flushed)+r.unsent < maxOut {
		r.cond.Signal()
	}
}

// abandon tells the worker that the connection is closed: a blocked Flush returns, and the next fails. It
// runs on the loop.
func (r *reply) abandon() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gone = true
	r.flushed = nil
	r.cond.Broadcast()
}

// post puts r in the loop's ready list and wakes the loop if it is asleep in epoll_wait. It runs on a worker.
//
// Writing the eventfd is a system call, and so is the epoll_wait it ends: a busy loop that is not asleep does
// not need them, as it looks at the ready list after every turn. The loop says when it goes to sleep
// (sleeping, set under the same mutex as the list), so that a worker writes the eventfd only then, and never
// misses a sleeping loop.
func (l *loop) post(r *reply) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !r.posted {
		r.posted = true
		l.ready = append(l.ready, r)
	}
	l.wakeLocked()
}

// wakeLocked wakes the loop if it is asleep. l.mu is held.
func (l *loop) wakeLocked() {
	if !l.sleeping || l.wakefd < 0 {
		return
	}
	l.sleeping = false
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(l.wakefd, one[:]) // EAGAIN: the counter is already set, the loop will wake anyway
}

// isDone reports whether the worker is finished with r. It runs on the loop.
func (r *reply) isDone() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}

// takeReady returns the replies that have news, emptying the list, and whether the server was told to stop.
// It runs on the loop.
func (l *loop) takeReady() (ready []*reply, stop bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ready = l.ready
	for _, r := range ready {
		r.posted = false
	}
	clear(l.spare) // the replies of the last turn, done with
	l.ready, l.spare = l.spare[:0], ready
	return ready, l.stop
}
