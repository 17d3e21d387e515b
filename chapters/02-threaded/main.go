// Command threaded is the server of chapter 2: a goroutine per connection reads requests and runs the
// application, at most -workers of them at once.
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
