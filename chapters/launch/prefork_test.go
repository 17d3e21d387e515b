package launch

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReadSettings(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, content string
		wantErr       string // "" for none
		atLeast       time.Duration
	}{
		{"a delay", "# the app takes a while to import\nboot_delay = 50ms\n", "", 50 * time.Millisecond},
		{"empty", "\n\n", "", 0},
		{"not name = value", "broken\n", `line 1: "broken" is not name = value`, 0},
		{"an unknown setting", "debug = 1\n", `unknown setting "debug"`, 0},
		{"a bad duration", "boot_delay = soon\n", `boot_delay "soon" is not a duration`, 0},
		{"a negative duration", "boot_delay = -1s\n", `boot_delay "-1s" is not a duration`, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o644))
			start := time.Now()
			err := ReadSettings(path)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.GreaterOrEqual(t, time.Since(start), tt.atLeast)
		})
	}
	t.Run("no file: no settings", func(t *testing.T) {
		require.NoError(t, ReadSettings(filepath.Join(dir, "missing")))
		require.NoError(t, ReadSettings(""))
	})
	t.Run("a file that cannot be read", func(t *testing.T) {
		require.ErrorContains(t, ReadSettings(dir), "is a directory")
	})
}

func TestMaxRequests(t *testing.T) {
	require.Zero(t, maxRequests(&PreforkConfig{}))
	require.Equal(t, int64(100), maxRequests(&PreforkConfig{MaxRequests: 100}))
	seen := map[int64]bool{}
	for range 500 {
		n := maxRequests(&PreforkConfig{MaxRequests: 100, MaxRequestsJitter: 3})
		require.True(t, n >= 100 && n <= 103, "%d out of 100..103", n)
		seen[n] = true
	}
	require.Len(t, seen, 4, "every jitter from 0 to 3 is drawn")
}
