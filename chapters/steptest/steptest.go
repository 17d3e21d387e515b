// Package steptest holds what the step tests of the chapters share: a bounded wait for a call, a look at which
// fields a chapter's own code sets, and the chapter's program built once and started as a server.
package steptest

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"course/harness"
)

// Within calls f and waits at most d for it to return. If f is still running then, or panicked, it fails t with
// a message that names what, and reports false; f may go on running, on a goroutine of its own.
func Within(t testing.TB, d time.Duration, what string, f func()) bool {
	t.Helper()
	return WithinHint(t, d, what, "", f)
}

// WithinHint is Within whose message, when f does not return in time, ends with hint: the chapter's likely
// cause ("does it wait for bytes that never come?").
func WithinHint(t testing.TB, d time.Duration, what, hint string, f func()) bool {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Sprintf("%v\n%s", r, debug.Stack())
			}
		}()
		f()
		done <- ""
	}()
	select {
	case p := <-done:
		if p != "" {
			t.Errorf("%s panicked: %s", what, p)
			return false
		}
		return true
	case <-time.After(d):
		if hint != "" {
			hint = ": " + hint
		}
		t.Errorf("%s did not return within %v%s", what, d, hint)
		return false
	}
}

// FieldsSet reports which of the named fields the Go files of dir (its tests aside) set, in a composite literal
// (Name: value) or an assignment (x.Name = value): a test can tell a decision written in the code from a zero
// value left as it was.
func FieldsSet(dir string, names ...string) (map[string]bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			return nil, err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.KeyValueExpr:
				if id, ok := n.Key.(*ast.Ident); ok && slices.Contains(names, id.Name) {
					set[id.Name] = true
				}
			case *ast.AssignStmt:
				for _, lhs := range n.Lhs {
					if sel, ok := lhs.(*ast.SelectorExpr); ok && slices.Contains(names, sel.Sel.Name) {
						set[sel.Sel.Name] = true
					}
				}
			}
			return true
		})
	}
	return set, nil
}

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// Program builds the program of the chapter whose tests run (the package in the current folder), once for all
// the tests of the run, and returns its path.
func Program(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		wd, err := os.Getwd()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "steps-")
		if err != nil {
			buildErr = err
			return
		}
		built = filepath.Join(dir, filepath.Base(wd))
		buildErr = harness.Build(context.Background(), ".", built, false)
	})
	if buildErr != nil {
		t.Fatalf("building this chapter's program: %v", buildErr)
	}
	return built
}

// Start starts the chapter's program (Program) on a free port, with flags, and stops it when the test ends,
// giving it grace to exit. The test fails if the stop leaves a process behind: what names the main process
// ("the master") in that message. The server's output is logged when the test has failed.
func Start(t testing.TB, what string, grace time.Duration, flags ...string) *harness.Server {
	t.Helper()
	prog := Program(t)
	srv, err := harness.Start(harness.ServerConfig{Command: []string{prog}, Flags: flags})
	if err != nil {
		t.Fatalf("starting %s %s: %v", filepath.Base(prog), strings.Join(flags, " "), err)
	}
	t.Cleanup(func() {
		res := srv.Stop(grace)
		if len(res.Leftovers) > 0 {
			t.Errorf("processes left behind after %s stopped: %v", what, res.Leftovers)
		}
		if t.Failed() {
			t.Logf("the server's output:\n%s", srv.Output())
		}
	})
	return srv
}
