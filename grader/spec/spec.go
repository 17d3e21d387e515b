// Package spec runs a chapter's table of specs against a server under test and reports the results.
//
// A Spec is one check: an id ("1.4"), a title, points, a time limit, where the chapter explains it, a hint
// and a line a person can paste to reproduce it. Its Check function drives the server over TCP through a T,
// which tracks the connections it dials, records what was sent and received, and turns network errors into
// sentences a learner can act on. Run runs the specs in order, one server for the chapter, and restarts the
// server when a spec killed it; the Report it returns prints as text (Printer) or JSON. A report of Go's race
// detector in a server's output fails the run.
package spec

import (
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout is the time limit of a spec that sets none.
const DefaultTimeout = 5 * time.Second

// Spec is one check of a chapter.
type Spec struct {
	ID      string        // "1.4": the chapter, then the position in the chapter
	Title   string        // what is checked, as a short phrase
	Points  int           // what passing is worth
	Timeout time.Duration // how long Check may take; 0 means DefaultTimeout
	Why     string        // the README section that explains it: "chapters/01-blocking/README.md#framing-the-body"
	Hint    string        // what to look at when it fails
	// Repro is a command a person can paste to see the same exchange: curl, or printf ... | nc. The
	// placeholders {addr}, {host} and {port} are replaced with the server's address.
	Repro string
	// Fresh asks for a server of its own, started for this spec and stopped after it.
	Fresh bool
	// Flags are extra command-line flags for the server; a spec with Flags gets a server of its own.
	Flags []string
	// Stops says that Check stops the server itself, as a check of graceful shutdown does: its exit is
	// then no failure. Only for a spec with a server of its own (Fresh or Flags).
	Stops bool
	// Static says that Check reads the code (T.Source) and needs no server: it runs even when the server
	// does not start. Its T has no server to dial.
	Static bool
	// Check drives the server and reports failures through t.
	Check func(t *T)
}

// timeout returns the time limit of s.
func (s *Spec) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

// ownServer reports whether s needs a server of its own.
func (s *Spec) ownServer() bool { return s.Fresh || len(s.Flags) > 0 }

// Expand replaces the placeholders {addr}, {host} and {port} in s with the parts of addr ("127.0.0.1:8080").
func Expand(s, addr string) string {
	host, port := splitAddr(addr)
	return strings.NewReplacer("{addr}", addr, "{host}", host, "{port}", port).Replace(s)
}

// splitAddr splits "host:port" at its last colon; an address without one is all host.
func splitAddr(addr string) (host, port string) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return addr, ""
	}
	host, port = addr[:i], addr[i+1:]
	if _, err := strconv.Atoi(port); err != nil {
		return addr, ""
	}
	return strings.Trim(host, "[]"), port
}
