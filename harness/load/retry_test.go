package load

import (
	"bufio"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRetry checks Config.Retry against a server that answers one request per connection without saying
// so, then reads the next request and closes the connection without a word: the close a client may see
// when it sends a request on a kept-alive connection just as the server closes it.
func TestRetry(t *testing.T) {
	forEachEngine(t, func(t *testing.T, run runFunc) {
		oneThenClose := func(c net.Conn, br *bufio.Reader) {
			if readRequest(br) != nil {
				return
			}
			io.WriteString(c, okResp)
			readRequest(br)
		}
		for _, tt := range []struct {
			name        string
			retry       bool
			handle      func(net.Conn, *bufio.Reader)
			wantEOFs    bool // failures, all of them a close before the response
			wantRetries bool
		}{
			{"without Retry, each close is a failure", false, oneThenClose, true, false},
			{"with Retry, a close before the response is retried", true, oneThenClose, false, true},
			{"a request that fails on a new connection is not retried", true,
				func(c net.Conn, br *bufio.Reader) { readRequest(br) }, true, false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				addr := serveRaw(t, tt.handle)
				res, err := run(context.Background(), Config{Addr: addr, Conns: 2, Requests: 100, Duration: 10 * time.Second, Retry: tt.retry})
				require.NoError(t, err)
				got := res.Errors
				if got == nil {
					got = map[string]int64{}
				}
				if tt.wantEOFs {
					require.Equal(t, map[string]int64{KindEOF: got[KindEOF]}, got)
					require.Positive(t, got[KindEOF])
				} else {
					require.Empty(t, got)
				}
				require.Equal(t, tt.wantRetries, res.Retries > 0, "retries: %d", res.Retries)
				require.Equal(t, int64(100), res.Requests+sum(got), "every request is answered or failed once: %+v", res)
			})
		}
	})
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
