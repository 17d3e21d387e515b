package main

import (
	"context"
	"log"
	"net"

	"course/chapters/gateway"
	"course/chapters/launch"
)

// serveConn serves the requests of one connection, one after the other, and closes the connection when it
// returns.
//
// Step 8 (README: "Step 8: the request loop"):
//   - read each request with readRequest, with the limits cfg.Limits(), and answer it with http1.Answer,
//     which builds the environ, calls the app, writes and flushes the response, and reads what the app left
//     of the body; then read the next request, while Answer reports that the connection may carry another
//     (keep-alive). The bytes of the next request may already be buffered (pipelining): use one
//     bufio.Reader and one bufio.Writer for the whole connection;
//   - return when the client closes the connection, or a read or a write fails;
//   - answer a request that readRequest refuses with http1.Refuse (which writes and flushes the answer, under
//     the connection's write deadline, which step 9 sets; it sends nothing for io.EOF or a timeout), and
//     close the connection: the server no longer knows where the next request starts;
//   - call http1.Linger before closing a connection while the client may still be sending: after Refuse sent
//     an answer, and after an answer that ends the connection when the request had a body
//     (req.ContentLength != 0). Otherwise closing resets the connection (README "Limits").
//
// Step 9 (README: "Step 9: deadlines and shutdown"), with the timeouts of cfg:
//   - the first byte of a request must arrive within cfg.HeaderTimeout on a new connection, and within
//     cfg.IdleTimeout on a kept-alive one; if it does not, close the connection without an answer;
//   - from that first byte on, the whole head must arrive within cfg.HeaderTimeout: one deadline for the
//     head, not one for each read (slowloris);
//   - once the head is read, the body may take cfg.BodyTimeout to arrive, and the response must be written
//     within cfg.BodyTimeout + cfg.WriteTimeout of the end of the head;
//   - a refusal is written under a write deadline of its own (cfg.WriteTimeout from now): on a kept-alive
//     connection, the last response's may have passed while the connection was idle;
//   - when ctx is cancelled (SIGTERM), a connection that waits for its next request is closed at once, not
//     after its idle time; a request in flight, from its first byte on, is answered, then the connection is
//     closed. The wake runs in a goroutine of its own: its check (is the loop waiting?) and its deadline
//     change must not interleave with the loop leaving the wait and setting the head's deadline, or it cuts
//     a request that has just begun. Tell Answer whether ctx is cancelled (its closing argument), so that a
//     request read as the server stops is answered with Connection: close.
func serveConn(ctx context.Context, conn net.Conn, cfg *launch.Config, srv gateway.Server, app gateway.App) {
	// TODO(step 8, then step 9): the request loop.
	log.Printf("step 8, serveConn (conn.go), is not written yet: closing the connection from %s", conn.RemoteAddr())
	conn.Close()
}
