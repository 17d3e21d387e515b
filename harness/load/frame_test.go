package load

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// answer is what a framer found in one response.
type answer struct {
	Status    int
	KeepAlive bool
}

// frameAll feeds in to a framer in pieces of the given size and returns the
// responses it found and how the stream ended (io.EOF: between responses).
func frameAll(in string, head bool, piece int) (got []answer, err error) {
	f := framer{head: head}
	for b := []byte(in); len(b) > 0; {
		chunk := b[:min(piece, len(b))]
		b = b[len(chunk):]
		for len(chunk) > 0 {
			n, done, err := f.feed(chunk)
			if err != nil {
				return got, err
			}
			chunk = chunk[n:]
			if done {
				got = append(got, answer{f.status, f.keepAlive})
			}
		}
	}
	done, err := f.eof()
	if done {
		got = append(got, answer{f.status, f.keepAlive})
		err = io.EOF
	}
	return got, err
}

func TestFramer(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		head    bool
		want    []answer
		wantErr error // after the wanted answers; io.EOF for a clean end
	}{
		{
			name: "content-length, twice",
			in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" +
				"HTTP/1.1 404 Not Found\r\ncontent-length:0\r\n\r\n",
			want:    []answer{{200, true}, {404, true}},
			wantErr: io.EOF,
		},
		{
			name:    "chunked with extension and trailer",
			in:      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\n",
			want:    []answer{{200, true}},
			wantErr: io.EOF,
		},
		{
			name:    "connection close",
			in:      "HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 2\r\n\r\nhi",
			want:    []answer{{200, false}},
			wantErr: io.EOF,
		},
		{
			name:    "HTTP/1.0 keep-alive",
			in:      "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi",
			want:    []answer{{200, true}},
			wantErr: io.EOF,
		},
		{
			name:    "HTTP/1.0 body until close",
			in:      "HTTP/1.0 200 OK\r\n\r\nall of this is the body",
			want:    []answer{{200, false}},
			wantErr: io.EOF,
		},
		{
			name:    "HEAD has no body",
			in:      "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
			head:    true,
			want:    []answer{{200, true}, {204, true}},
			wantErr: io.EOF,
		},
		{
			name:    "304 has no body",
			in:      "HTTP/1.1 304 Not Modified\r\nContent-Length: 14\r\n\r\n",
			want:    []answer{{304, true}},
			wantErr: io.EOF,
		},
		{
			name:    "100 continue is skipped",
			in:      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
			want:    []answer{{201, true}},
			wantErr: io.EOF,
		},
		{
			name:    "bare LF line ends",
			in:      "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi",
			want:    []answer{{200, true}},
			wantErr: io.EOF,
		},
		{
			name:    "101 ends the connection",
			in:      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
			want:    []answer{{101, false}},
			wantErr: io.EOF,
		},
		{name: "not HTTP", in: "garbage\r\n\r\n", wantErr: errMalformed},
		{name: "bad status code", in: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: errMalformed},
		{name: "bad content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: errMalformed},
		{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", wantErr: errMalformed},
		{name: "chunk overruns", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", wantErr: errMalformed},
		{name: "line too long", in: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", maxLine) + "\r\n\r\n", wantErr: errMalformed},
		{name: "cut in the headers", in: "HTTP/1.1 200 OK\r\nContent-Len", wantErr: io.ErrUnexpectedEOF},
		{name: "cut in the body", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", wantErr: io.ErrUnexpectedEOF},
		{name: "cut in a chunk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", wantErr: io.ErrUnexpectedEOF},
		{name: "nothing", in: "", wantErr: io.EOF},
	}
	for _, tt := range tests {
		for _, piece := range []int{1, 2, 7, 64, len(tt.in) + 1} {
			t.Run(fmt.Sprintf("%s/%d", tt.name, piece), func(t *testing.T) {
				got, err := frameAll(tt.in, tt.head, piece)
				require.Equal(t, tt.want, got)
				require.Truef(t, errors.Is(err, tt.wantErr), "error %v, want %v", err, tt.wantErr)
			})
		}
	}
}

func TestErrorKind(t *testing.T) {
	_, parseErr := frameAll("nonsense\r\n", false, 64)
	tests := []struct {
		err  error
		want string
	}{
		{parseErr, KindParse},
		{io.EOF, KindEOF},
		{io.ErrUnexpectedEOF, KindEOF},
		{os.ErrDeadlineExceeded, KindTimeout},
		{os.NewSyscallError("read", syscall.ECONNRESET), KindReset},
		{os.NewSyscallError("write", syscall.EPIPE), KindReset},
		{errors.New("something else"), KindRead},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, errorKind(tt.err, KindRead), "%v", tt.err)
	}
}
