package launch

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
