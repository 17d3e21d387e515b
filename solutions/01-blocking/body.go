package main

import (
	"bufio"
	"io"

	"course/chapters/http1"
)

// lengthBody returns a reader of a body framed by Content-Length (step 6).
func lengthBody(r io.Reader, n int64) io.Reader {
	return http1.LengthBody(r, n)
}

// chunkedBody returns a reader of a chunked body (step 7).
func chunkedBody(br *bufio.Reader, lim http1.Limits) io.Reader {
	return http1.ChunkedBody(br, lim)
}
