package main

import (
	"context"
	"errors"
	"net"

	"course/chapters/gateway"
	"course/chapters/launch"
)

// listen opens the listening socket on cfg.Addr, and describes the server to the application.
//
// Step 1 (README: "Step 1: the listening socket"). It returns:
//   - a TCP listener on cfg.Addr that is closed when ctx is cancelled, which is how an Accept blocked in it
//     learns that the server is stopping (SIGTERM cancels ctx);
//   - the gateway.Server that every request's environ is built from: Name "127.0.0.1" (SERVER_NAME when a
//     request has no Host); Port, the port the listener got, as digits (the kernel chooses it when
//     cfg.Addr ends in ":0"); Errors, os.Stderr (wsgi.errors); and MultiThread and MultiProcess, which tell
//     the app whether another thread, or another process, may call it while it runs (wsgi.multithread,
//     wsgi.multiprocess). Decide both for this server, and set them in the code even where the answer is
//     Go's zero value: README "The gateway".
//
// A cfg.Addr that cannot be listened on (a port in use) is an error, returned.
func listen(ctx context.Context, cfg *launch.Config) (net.Listener, gateway.Server, error) {
	// TODO(step 1): the listening socket.
	return nil, gateway.Server{}, errors.New("step 1, listen (listen.go), is not written yet")
}

// acceptLoop accepts the connections that arrive on ln and calls handle with each, one after the other: it
// accepts the next connection only once handle has returned. That is this chapter's architecture.
//
// Step 2 (README: "Step 2: the accept loop"). It returns nil when ctx is cancelled (listen then closes ln,
// and the blocked Accept fails), and an error when ln fails because it was closed while ctx was not
// cancelled. Any other Accept error, such as EMFILE (the process is out of file descriptors), must not stop
// the server: log it, pause (100 ms), and accept again. Retrying at once would spin at 100% CPU on a call
// that keeps failing.
func acceptLoop(ctx context.Context, ln net.Listener, handle func(net.Conn)) error {
	// TODO(step 2): the accept loop.
	return errors.New("step 2, acceptLoop (listen.go), is not written yet")
}
