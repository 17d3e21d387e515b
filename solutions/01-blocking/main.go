// Command blocking is the server of chapter 1: it serves one connection at a time, from accept to close.
package main

import (
	"context"
	"flag"

	"course/chapters/app"
	"course/chapters/launch"
)

func main() {
	cfg := launch.Register(flag.CommandLine)
	launch.Main(func(ctx context.Context) error {
		return serve(ctx, cfg, app.New(app.Options{Worker: cfg.Worker}))
	})
}
