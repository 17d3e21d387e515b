package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWatchFiles(t *testing.T) {
	for _, poll := range []bool{false, true} {
		t.Run(map[bool]string{false: "inotify", true: "polling"}[poll], func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			changes, stop, how := watchFiles(ctx, dir, poll)
			defer stop()
			if poll {
				require.Equal(t, "polling", how)
			}
			time.Sleep(600 * time.Millisecond) // let the poller take its first snapshot

			require.NoError(t, os.WriteFile(filepath.Join(dir, ".server.go.swp"), []byte("x"), 0o644))
			select {
			case <-changes:
				t.Fatal("an editor's swap file must not trigger a grade")
			case <-time.After(1200 * time.Millisecond):
			}

			require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "server.go"), []byte("package main"), 0o644))
			select {
			case <-changes:
			case <-time.After(5 * time.Second):
				t.Fatal("no change seen 5 s after a .go file was written")
			}
		})
	}
}

func TestRelevant(t *testing.T) {
	for name, want := range map[string]bool{
		"server.go": true, "go.mod": true, "app.py": true, "Makefile": true,
		".server.go.swp": false, "server.go~": false, "notes.md": false,
	} {
		require.Equal(t, want, relevant(name), name)
	}
}
