package main

import (
	"fmt"
	"os"

	"course/chapters/app"
	"course/chapters/prefork"
	"course/chapters/shared"
)

// The reference answer to step 7's counters is package shared.

// counterFiles returns the files the master passes on to every worker for a counter of the given kind:
// none for a local counter; for a shared one, the 8 bytes that hold its value, in memory.
func counterFiles(kind string) ([]*os.File, error) {
	switch kind {
	case "local":
		return nil, nil
	case "file", "shm":
		f, err := shared.New()
		if err != nil {
			return nil, err
		}
		return []*os.File{f}, nil
	}
	return nil, fmt.Errorf("-counter %q: want local, file or shm", kind)
}

// openCounter returns the counter of the given kind, in a worker.
func openCounter(kind string) (app.Counter, error) {
	switch kind {
	case "local":
		return app.NewLockedCounter(), nil // this process's own: nothing is shared
	case "file":
		return shared.OpenFileCounter(prefork.FirstAppFD)
	case "shm":
		return shared.OpenMemoryCounter(prefork.FirstAppFD)
	}
	return nil, fmt.Errorf("-counter %q: want local, file or shm", kind)
}
