// Package specs holds the tables of specs of the course's chapters: what the grader checks in each chapter's
// server, in the order a learner meets it. A later chapter runs the correctness specs of the earlier ones
// too, by reference, since a new architecture must not break what already worked.
package specs

import (
	"fmt"
	"maps"
	"slices"

	"course/grader/spec"
)

// Chapter is one chapter's table of specs and how its server is started.
type Chapter struct {
	Number int
	Slug   string   // "01-blocking": the folder under chapters/ and solutions/
	Title  string   // "blocking"
	Flags  []string // the flags the grader starts the server with, after -addr
	// Race builds the server with the race detector (unless the grader is given a command to run), so
	// that a data race is reported in its output, which fails the run.
	Race bool
	// Reference lists what, in a learner's code, is the given reference answer to this chapter's exercise: a
	// function as the code calls it, "http1.ReadRequest(" (ReadRequest of package http1), or a method by its
	// name, ".ServeConn(". The grader looks for calls of them in the package's type-checked code, tests left
	// out (source.Package.CalledFrom). Using one earns the points, and the report says so.
	Reference []string
	Specs     []spec.Spec
}

// chapters maps a chapter number to the function that builds its table.
var chapters = map[int]func() *Chapter{
	1: chapter1,
	2: chapter2,
	3: chapter3,
	4: chapter4,
	5: chapter5,
}

// ForChapter returns the table of chapter n.
func ForChapter(n int) (*Chapter, error) {
	f, ok := chapters[n]
	if !ok {
		return nil, fmt.Errorf("no specs for chapter %d (chapters with specs: %v)", n, Numbers())
	}
	return f(), nil
}

// Numbers returns the numbers of the chapters that have specs, in order.
func Numbers() []int {
	return slices.Sorted(maps.Keys(chapters))
}
