package http1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"strconv"
	"time"

	"course/chapters/gateway"
)

// Answer answers one request with app, writing to bw, and reports whether the connection can carry another.
func Answer(bw *bufio.Writer, req *gateway.Request, srv gateway.Server, app gateway.App, closing bool) bool {
	if v := req.Get("Expect"); v != "" && req.Minor >= 1 { // RFC 9110 section 10.1.1: ignored from HTTP/1.0
		if !req.HasToken("Expect", "100-continue") {
			gateway.WriteError(bw, 417, "unsupported expectation "+strconv.Quote(v), true)
			return false
		}
		// The client waits for this before it sends the body (curl does for large bodies), so send it now.
		if req.ContentLength != 0 {
			fmt.Fprint(bw, "HTTP/1.1 100 Continue\r\n\r\n")
			if err := bw.Flush(); err != nil {
				return false
			}
		}
	}
	env, err := gateway.NewEnviron(req, srv)
	if err != nil {
		Refuse(bw, err)
		return false
	}
	res, err := gateway.Respond(bw, req, env, app, closing)
	if err != nil || !res.KeepAlive {
		return false
	}
	// The app may not have read the whole body: skip what is left, or it would be read as the next request.
	if _, err := io.Copy(io.Discard, req.Body); err != nil {
		return false
	}
	return true
}

// Refuse answers a request that could not be read: 400 and friends for a bad request, with Connection:
// close, and nothing for a timeout or a connection the client closed. It writes the answer to bw and flushes
// it, and reports whether the answer was sent. The flush writes to the connection under its write deadline:
// on a kept-alive connection, set a new one first, since the last response's may have passed.
func Refuse(bw *bufio.Writer, err error) bool {
	// Network errors (a timeout, a reset) have a Timeout method, as net.Error says; checking for the method
	// rather than the type keeps this package free of package net.
	var ne interface{ Timeout() bool }
	if errors.Is(err, io.EOF) || errors.As(err, &ne) {
		return false
	}
	log.Printf("refused a request: %v", err)
	msg := err.Error()
	var he *Error
	if errors.As(err, &he) {
		msg = he.Reason
	}
	return gateway.WriteError(bw, gateway.StatusOf(err), msg, true) == nil
}

// lingerTime bounds how long Linger waits for a client to stop sending.
const lingerTime = 500 * time.Millisecond

// Linger prepares conn for a close while the client may still be sending, as after a 413: closing a socket
// with unread bytes makes the kernel send a reset, and a reset can destroy the response before the client
// reads it. Linger shuts down the sending side (the client sees the end of the response) and reads and drops
// what still arrives, for a short while, as nginx's lingering_close does. The caller then closes conn.
func Linger(conn Conn) {
	cw, ok := conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	conn.SetReadDeadline(time.Now().Add(lingerTime))
	io.Copy(io.Discard, io.LimitReader(conn, 4<<20))
}
