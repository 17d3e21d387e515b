package pool

import "time"

// watchdog paces the look a pool takes at its running jobs, to give up on those that run past RunTimeout:
// every period while the pool holds a job, and not at all while it holds none, so that an idle server does not
// wake up ten times a second for nothing.
type watchdog struct {
	period time.Duration
	wake   chan struct{}
}

// newWatchdog returns the watchdog of a pool whose jobs may run for timeout; nil, a watchdog that never looks,
// if timeout is not positive.
func newWatchdog(timeout time.Duration) *watchdog {
	if timeout <= 0 {
		return nil
	}
	return &watchdog{period: watchPeriod(timeout), wake: make(chan struct{}, 1)}
}

// watchPeriod is how often a watchdog looks for jobs that run past timeout: a tenth of it, between 1 and 100 ms.
func watchPeriod(timeout time.Duration) time.Duration {
	return min(max(timeout/10, time.Millisecond), 100*time.Millisecond)
}

// busy wakes the watchdog if it sleeps: the pool calls it when its count of jobs goes from 0 to 1.
func (w *watchdog) busy() {
	if w == nil {
		return
	}
	select {
	case w.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// run calls look every period, and sleeps while idle reports true, until done is closed and idle reports true.
func (w *watchdog) run(idle func() bool, done <-chan struct{}, look func()) {
	tick := time.NewTicker(w.period)
	defer tick.Stop()
	for {
		if idle() {
			select {
			case <-done:
				return
			default:
			}
			tick.Stop()
			select {
			case <-w.wake: // a wake-up from before the look at idle only costs one look
			case <-done:
				continue // closed: the jobs still held get looked at until they end
			}
			tick.Reset(w.period)
		}
		<-tick.C
		look()
	}
}
