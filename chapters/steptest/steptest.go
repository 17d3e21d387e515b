// Package steptest holds what the step tests of the chapters share: a bounded wait for a call, and a look at
// which fields a chapter's own code sets.
package steptest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"
)

// Within calls f and waits at most d for it to return. If f is still running then, or panicked, it fails t with
// a message that names what, and reports false; f may go on running, on a goroutine of its own.
func Within(t testing.TB, d time.Duration, what string, f func()) bool {
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
		t.Errorf("%s did not return within %v", what, d)
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
