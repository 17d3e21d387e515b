package pool

import "sync/atomic"

// gate is what a Pool and a Limiter share: their sizes, the count of the jobs they hold and its bound, the
// watchdog, and the close.
type gate struct {
	cfg       Config
	done      chan struct{} // closed by Close
	dog       *watchdog     // nil without a RunTimeout
	held      atomic.Int64  // jobs queued or running, abandoned ones aside: at most Workers+Queue
	abandoned atomic.Int64  // jobs abandoned after RunTimeout that are still running
}

// init sets g up for cfg, with at least one worker and no negative queue.
func (g *gate) init(cfg Config) {
	cfg.Workers, cfg.Queue = max(cfg.Workers, 1), max(cfg.Queue, 0)
	g.cfg, g.done, g.dog = cfg, make(chan struct{}), newWatchdog(cfg.RunTimeout)
}

// admit counts a job in, and returns how many jobs are held with it. It fails at once, counting nothing, with
// ErrClosed once closed, and with ErrFull when Workers+Queue jobs are held already.
func (g *gate) admit() (int64, error) {
	if g.isClosed() {
		return 0, ErrClosed
	}
	held := g.held.Add(1)
	if held > int64(g.cfg.Workers+g.cfg.Queue) {
		g.held.Add(-1)
		return 0, ErrFull
	}
	if held == 1 {
		g.dog.busy() // the watchdog sleeps while no job is held
	}
	return held, nil
}

func (g *gate) isClosed() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// idle reports whether no job is held, for the watchdog.
func (g *gate) idle() bool { return g.held.Load() == 0 }

// stats returns a snapshot, with busy of the jobs held running.
func (g *gate) stats(busy int64) Stats {
	return Stats{Busy: int(busy), Queued: int(max(g.held.Load()-busy, 0)), Abandoned: int(g.abandoned.Load())}
}
