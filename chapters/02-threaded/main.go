// Command threaded is the server of chapter 2: a goroutine per connection reads requests, and a bounded pool of
// workers runs the application.
package main

import (
	"context"
	"flag"

	"course/chapters/gateway"
	"course/chapters/launch"
)

func main() {
	pc := launch.RegisterPool(flag.CommandLine)
	launch.Main(launch.Register(flag.CommandLine), func(ctx context.Context, cfg *launch.Config, app gateway.App) error {
		return serve(ctx, cfg, pc, app)
	})
}
