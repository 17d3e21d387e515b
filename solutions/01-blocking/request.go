package main

import (
	"bufio"

	"course/chapters/gateway"
	"course/chapters/http1"
)

// The reference answers to steps 3 to 7 are package http1's, which every later chapter uses: each function
// here is the piece of http1 that does its step, and http1.ReadRequest puts them together as the starter's
// readRequest does.

// readRequest reads one request head from br and sets up its body.
func readRequest(br *bufio.Reader, lim http1.Limits) (*gateway.Request, error) {
	return http1.ReadRequest(br, lim)
}

// readRequestLine reads the request line (step 3).
func readRequestLine(br *bufio.Reader, lim http1.Limits) (*gateway.Request, error) {
	return http1.ReadRequestLine(br, lim)
}

// readHeader reads the header section (step 4).
func readHeader(br *bufio.Reader, lim http1.Limits) ([]gateway.Header, error) {
	return http1.ReadHeader(br, lim)
}

// checkHost applies the Host rule (step 4).
func checkHost(req *gateway.Request) error {
	return http1.CheckHost(req)
}

// bodyLength decides how the body is framed (step 5).
func bodyLength(req *gateway.Request, lim http1.Limits) (int64, error) {
	return http1.BodyLength(req, lim)
}
