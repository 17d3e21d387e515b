package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"course/chapters/launch"
	"course/chapters/prefork"
)

// serveMaster is the master process: it opens the listening socket, and runs the workers on it until ctx
// is cancelled (SIGTERM, Ctrl-C). It handles SIGHUP, SIGTTIN and SIGTTOU.
func serveMaster(ctx context.Context, cfg *launch.Config, pc *launch.PreforkConfig, counter string) error {
	ln, err := listen(cfg.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	files, err := counterFiles(counter)
	if err != nil {
		return err
	}
	log.Printf("master listening on %s: -workers %d -threads %d -counter %s", prefork.Addr(ln), pc.Workers, pc.Threads, counter)

	spawn := &spawner{Listener: ln, Beat: prefork.BeatInterval(pc.Timeout), Files: files}
	m := newMaster(prefork.Config{
		Workers:         pc.Workers,
		Timeout:         pc.Timeout,
		ShutdownTimeout: pc.ShutdownTimeout,
		Spawner:         spawn,
		Listener:        ln,
	})
	// Without Notify, SIGTTIN and SIGTTOU would stop the master (their default action), and SIGHUP kill it.
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU)
	defer signal.Stop(signals)
	if err := m.run(ctx, signals); err != nil {
		return fmt.Errorf("master: %w", err)
	}
	return nil
}
