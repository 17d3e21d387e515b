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
	// Cases holds the hint and repro line of each sub-case of Check, keyed by the name given to T.Run. When a
	// sub-case fails, the report shows its own hint and repro line rather than the spec's: a learner who
	// failed on a chunked body must not be told about Content-Length. A spec with Cases must name every
	// sub-case in it (a T.Run with another name is reported as a problem of the grader), so that a new
	// sub-case cannot borrow a hint that does not fit it. Nested sub-cases are keyed "outer/inner"; one
	// without an entry of its own takes its outer case's.
	Cases map[string]Case
	// Check drives the server and reports failures through t.
	Check func(t *T)
}

// Case is the hint and repro line of one sub-case of a spec. An empty field takes the spec's.
type Case struct {
	Hint  string
	Repro string
}

// timeout returns the time limit of s.
func (s *Spec) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

// advice returns the hint and repro line for a failure in the sub-case named path ("" for none): the
// deepest entry of s.Cases that names path or one of its outer cases, else the spec's own.
func (s *Spec) advice(path string) (hint, repro string) {
	hint, repro = s.Hint, s.Repro
	for p := path; p != ""; {
		if c, ok := s.Cases[p]; ok {
			if c.Hint != "" {
				hint = c.Hint
			}
			if c.Repro != "" {
				repro = c.Repro
			}
			return hint, repro
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return hint, repro
}

// knows reports whether path names a sub-case of s: always for a spec without Cases.
func (s *Spec) knows(path string) bool {
	if s.Cases == nil {
		return true
	}
	for p := path; ; {
		if _, ok := s.Cases[p]; ok {
			return true
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return false
		}
		p = p[:i]
	}
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
