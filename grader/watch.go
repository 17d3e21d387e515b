package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long the files must stay unchanged before a re-grade: an editor saves in several writes.
const settle = 300 * time.Millisecond

// watchLoop grades, then grades again each time a file under dir changes, until ctx is done.
func watchLoop(ctx context.Context, dir string, poll bool, grade func(), stdout io.Writer) int {
	changes, stop, how := watchFiles(ctx, dir, poll)
	defer stop()
	for {
		grade()
		fmt.Fprintf(stdout, "\nWatching %s for changes (%s). Save a file to grade again; Ctrl-C to stop.\n", dir, how)
		select {
		case <-ctx.Done():
			return exitPass
		case <-changes:
		}
		// Let a burst of writes settle before grading.
		for quiet := false; !quiet; {
			select {
			case <-ctx.Done():
				return exitPass
			case <-changes:
			case <-time.After(settle):
				quiet = true
			}
		}
		fmt.Fprintf(stdout, "\n%s\n", strings.Repeat("-", 72))
	}
}

// watchFiles sends on the returned channel when a source file under dir changes. It uses inotify through
// fsnotify, and falls back to polling every half second when that is not available (some containers and
// network file systems) or when poll is set.
func watchFiles(ctx context.Context, dir string, poll bool) (<-chan struct{}, func(), string) {
	changes := make(chan struct{}, 1)
	notify := func() {
		select {
		case changes <- struct{}{}:
		default:
		}
	}
	if !poll {
		if w, err := fsnotify.NewWatcher(); err == nil {
			err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					return w.Add(path)
				}
				return err
			})
			if err == nil {
				go func() {
					for {
						select {
						case ev, ok := <-w.Events:
							if !ok {
								return
							}
							if relevant(ev.Name) {
								notify()
							}
						case _, ok := <-w.Errors:
							if !ok {
								return
							}
						}
					}
				}()
				return changes, func() { w.Close() }, "inotify"
			}
			w.Close()
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		last := snapshot(dir)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if now := snapshot(dir); now != last {
					last = now
					notify()
				}
			}
		}
	}()
	return changes, cancel, "polling"
}

// relevant reports whether a changed file can change the grade: Go sources and module files, not editor
// swap files.
func relevant(name string) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") || strings.HasSuffix(base, "~") {
		return false
	}
	switch filepath.Ext(base) {
	case ".go", ".mod", ".sum", ".py", "":
		return true
	}
	return false
}

// snapshot sums up the names, sizes and times of the relevant files under dir.
func snapshot(dir string) string {
	var b strings.Builder
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !relevant(path) {
			return nil
		}
		if fi, err := os.Stat(path); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", path, fi.Size(), fi.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}
