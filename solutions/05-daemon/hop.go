package main

import (
	"net"
	"time"

	"course/chapters/daemon"
	"course/chapters/gateway"
)

// The reference answers to steps 3, 6 and 7 (the front end's side) are package daemon's Hop, Dial and Stamp.

// hop is the front end's application: it hands each request to the daemons.
type hop struct {
	socket         string        // the daemon group's socket
	connectTimeout time.Duration // -connect-timeout
	socketTimeout  time.Duration // -socket-timeout
}

// app passes the request to a daemon and streams its answer back.
func (h *hop) app(env *gateway.Environ, start gateway.StartResponse) (gateway.Body, error) {
	ref := daemon.Hop{Socket: h.socket, ConnectTimeout: h.connectTimeout, SocketTimeout: h.socketTimeout}
	return ref.App(env, start)
}

// dial connects to the daemon group's socket, trying again while its queue is full.
func dial(socket string, timeout time.Duration) (net.Conn, error) {
	return daemon.Dial(socket, timeout)
}

// stamp records in env when the request starts to wait for a daemon.
func stamp(env *gateway.Environ, now time.Time) { daemon.Stamp(env, now) }
