package main

import (
	"fmt"

	"course/chapters/pool"
)

// workerPool is the reference answer, pool.Pool: worker goroutines fed by a bounded queue, with a queue
// timeout, a run timeout and Close.
type workerPool = pool.Pool

// newPool checks cfg and starts cfg.Workers workers.
func newPool(cfg pool.Config) (*workerPool, error) {
	if cfg.Workers < 1 || cfg.Queue < 0 {
		return nil, fmt.Errorf("a pool needs at least 1 worker and a queue of 0 or more, not %d workers and a queue of %d", cfg.Workers, cfg.Queue)
	}
	return pool.New(cfg), nil
}
