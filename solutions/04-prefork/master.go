package main

import (
	"context"
	"os"

	"course/chapters/prefork"
)

// The reference answer to steps 2 to 6 is package prefork's Master, which chapter 5 uses too.

// master runs the workers.
type master struct{ m *prefork.Master }

// newMaster returns a master for cfg.
func newMaster(cfg prefork.Config) *master { return &master{prefork.New(cfg)} }

// run runs the workers until ctx is done.
func (m *master) run(ctx context.Context, signals <-chan os.Signal) error {
	return m.m.Run(ctx, signals)
}
