package main

import (
	"bufio"
	"io"
	"testing/iotest"

	"course/chapters/http1"
)

// lengthBody returns a reader of a body framed by Content-Length (RFC 9112 section 6.2): exactly n bytes of
// r, then io.EOF.
//
// Step 6 (README: "Step 6: a Content-Length body"). It must never read from r beyond those n bytes: what
// follows them is the next request. With n = 0 it returns io.EOF without reading r at all. An r that ends
// before the n bytes (the client closed the connection) is a 400, an *http1.Error, not io.EOF: the body is
// incomplete, not over.
func lengthBody(r io.Reader, n int64) io.Reader {
	// TODO(step 6): a Content-Length body.
	return iotest.ErrReader(&http1.Error{Code: 501, Reason: "step 6, lengthBody (body.go), is not written yet"})
}

// chunkedBody returns a reader of a chunked body (RFC 9112 section 7.1): the data of its chunks, then io.EOF
// once the last chunk (of size 0), the trailer section after it and the empty line that ends the body have
// been read.
//
// Step 7 (README: "Step 7: a chunked body"). A chunk is a size line (the size in hex digits of either case,
// then optional extensions after a ";", which are ignored, section 7.1.1; spaces and tabs may come before
// the ";", as in "5 ;name=value": the grammar's BWS), CRLF, as many bytes of data, CRLF. Check the CRLF after
// a chunk's data as soon as that data has been read, and read the next size line only in a later Read: a
// Read that has data to give returns it, rather than wait for a chunk the client may send much later.
// Trailer fields (section 7.1.2) are read like a header section, with the same limits, and dropped. A bare
// LF may end a line. It must refuse with 400:
//   - a size that is not hex digits only (no sign, no "0x") or has more than 15 digits, and a size line
//     longer than http1.MaxChunkLine bytes;
//   - chunk data not followed by CRLF (the chunk is longer than its size says);
//   - a br that ends before the end of the body;
//
// and with 413 a body whose data would go over lim.MaxBody bytes, before reading the chunk that takes it
// over. Once an error is returned, every later Read returns it too.
func chunkedBody(br *bufio.Reader, lim http1.Limits) io.Reader {
	// TODO(step 7): a chunked body.
	return iotest.ErrReader(&http1.Error{Code: 501, Reason: "step 7, chunkedBody (body.go), is not written yet"})
}
