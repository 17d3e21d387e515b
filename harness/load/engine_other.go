//go:build !linux

package load

// engines are the ways to drive the connections, by name.
var engines = map[string]func(*runner) error{
	"goroutines": (*runner).runGoroutines,
}

// defaultEngine is the only engine outside Linux, where the event engine's
// epoll is missing.
const defaultEngine = "goroutines"
