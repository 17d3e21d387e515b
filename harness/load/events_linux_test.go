package load

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRunEventLoops runs the event engine with more loops (a loop per core)
// than a small machine has, each owning one or two connections.
func TestRunEventLoops(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(6)) // six loops
	addr := serveRaw(t, answerEach(okResp, 3, closeResp))
	tests := []struct {
		name string
		cfg  Config
	}{
		{"closed loop", Config{Conns: 7, Requests: 300}},
		{"open loop", Config{Conns: 7, Requests: 300, Rate: 3000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Addr, tt.cfg.Duration = addr, time.Minute
			res, err := run(context.Background(), tt.cfg, (*runner).runEvents)
			require.NoError(t, err)
			require.Empty(t, res.Errors)
			require.Equal(t, map[int]int64{200: 300}, res.Status)
			// Every connection closes after 3 responses.
			require.GreaterOrEqual(t, res.Reconnects, int64(300/3-7))
			// The spare P the loops asked for is given back.
			require.Equal(t, 6, runtime.GOMAXPROCS(0))
		})
	}
}
