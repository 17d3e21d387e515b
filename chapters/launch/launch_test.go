package launch

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"course/chapters/gateway"
)

func TestAcceptStops(t *testing.T) {
	for _, tt := range []struct {
		name string
		stop func(cancel context.CancelFunc, ln net.Listener)
		want error
	}{
		{"the server stops", func(cancel context.CancelFunc, ln net.Listener) { cancel() }, context.Canceled},
		{"the listener is closed", func(cancel context.CancelFunc, ln net.Listener) { ln.Close() }, net.ErrClosed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ln, _, err := Listen(ctx, &Config{Addr: "127.0.0.1:0"})
			require.NoError(t, err)
			defer ln.Close()
			errs := make(chan error, 1)
			go func() {
				_, err := Accept(ctx, ln)
				errs <- err
			}()
			tt.stop(cancel, ln)
			select {
			case err := <-errs:
				require.True(t, errors.Is(err, tt.want), "got %v, want %v", err, tt.want)
			case <-time.After(5 * time.Second):
				t.Fatal("Accept did not return")
			}
		})
	}
}

// counted is an app.Counter that records that the app used it.
type counted struct{ adds int64 }

func (c *counted) Add(n int64) int64 { c.adds++; return c.adds }
func (c *counted) Value() int64      { return c.adds }

func TestAppTakesTheServersCounter(t *testing.T) {
	c := &counted{}
	env := &gateway.Environ{Vars: map[string]string{"REQUEST_METHOD": "GET", "PATH_INFO": "/counter"}}
	body, err := (&Config{Counter: c}).App()(env, func(string, []gateway.Header) error { return nil })
	require.NoError(t, err)
	chunk, _ := body.Next()
	body.Close()
	require.Equal(t, "1\n", string(chunk), "/counter answers the server's counter")
	require.Equal(t, int64(1), c.adds, "the app increments the counter the server gave it")
}
