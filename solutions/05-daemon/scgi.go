package main

import (
	"bufio"
	"io"

	"course/chapters/gateway"
	"course/chapters/scgi"
)

// The reference answers to steps 1 and 2 are package scgi's WriteRequest and ReadResponse.

// writeRequest sends the request env describes to a daemon, in SCGI.
func writeRequest(w io.Writer, env *gateway.Environ) error { return scgi.WriteRequest(w, env) }

// readResponse reads the head of a daemon's CGI response; the body follows in the Response's Body.
func readResponse(br *bufio.Reader) (*scgi.Response, error) {
	return scgi.ReadResponse(br, scgi.DefaultLimits)
}
