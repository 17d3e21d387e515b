// Package source reads a learner's Go package to check its architecture: what it imports, what it calls,
// and where it starts goroutines. It type-checks the package with golang.org/x/tools/go/packages, so that a
// call is known by the function it reaches, not by how the file spells it ("unix.EpollWait" through any
// import name).
package source

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/types/typeutil"
)

// LoadTimeout bounds Load when its context has no deadline: loading type-checks the package's dependencies.
const LoadTimeout = time.Minute

// Package is what Load found in a package's non-test Go files. Positions are "file.go:12".
type Package struct {
	Path    string
	Imports map[string][]string // import path to where it is imported
	Calls   map[string][]string // called function to where: "net.Listen", "(*net/http.Server).Serve"
	Go      []string            // where a go statement starts a goroutine

	funcs map[string]*types.Func // the functions of Calls, by name
}

// Load type-checks the Go package in dir (its tests left out) and lists its imports, calls and go
// statements.
func Load(ctx context.Context, dir string) (*Package, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, LoadTimeout)
		defer cancel()
	}
	cfg := &packages.Config{
		Context: ctx,
		Dir:     dir,
		Mode:    packages.NeedName | packages.NeedFiles | packages.NeedImports | packages.NeedSyntax | packages.NeedTypes | packages.NeedTypesInfo,
	}
	pkgs, err := packages.Load(cfg, ".")
	if err != nil {
		return nil, fmt.Errorf("read the Go package in %s: %w", dir, err)
	}
	if len(pkgs) != 1 {
		return nil, fmt.Errorf("read the Go package in %s: found %d packages, want 1", dir, len(pkgs))
	}
	p := pkgs[0]
	if len(p.Errors) > 0 {
		var errs []error
		for _, e := range p.Errors {
			errs = append(errs, e)
		}
		return nil, fmt.Errorf("read the Go package in %s: %w", dir, errors.Join(errs...))
	}
	out := &Package{Path: p.PkgPath, Imports: map[string][]string{}, Calls: map[string][]string{}, funcs: map[string]*types.Func{}}
	where := func(pos token.Pos) string {
		at := p.Fset.Position(pos)
		return fmt.Sprintf("%s:%d", filepath.Base(at.Filename), at.Line)
	}
	for _, f := range p.Syntax {
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			out.Imports[path] = append(out.Imports[path], where(imp.Pos()))
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				out.Go = append(out.Go, where(n.Pos()))
			case *ast.CallExpr:
				if fn := callee(p.TypesInfo, n); fn != nil {
					name := fn.FullName()
					out.Calls[name] = append(out.Calls[name], where(n.Pos()))
					out.funcs[name] = fn
				}
			}
			return true
		})
	}
	return out, nil
}

// callee returns the function or method a call reaches, if it is a named one (a generic function too, with
// or without its type arguments).
func callee(info *types.Info, call *ast.CallExpr) *types.Func {
	fn, _ := typeutil.Callee(info, call).(*types.Func)
	return fn
}

// Imported returns the imports of p among paths (an entry "net/http/" stands for every package under
// net/http), each with where it is imported, sorted.
func (p *Package) Imported(paths ...string) []string {
	var found []string
	for path, at := range p.Imports {
		for _, want := range paths {
			if path == want || strings.HasSuffix(want, "/") && strings.HasPrefix(path, want) {
				found = append(found, fmt.Sprintf("%s (%s)", path, strings.Join(at, ", ")))
				break
			}
		}
	}
	slices.Sort(found)
	return found
}

// Called returns the calls of p to any of funcs (as types.Func.FullName spells them: "net.Listen",
// "(*sync.WaitGroup).Go"), each with where it is called, sorted.
func (p *Package) Called(funcs ...string) []string {
	var found []string
	for _, fn := range funcs {
		if at, ok := p.Calls[fn]; ok {
			found = append(found, fmt.Sprintf("%s (%s)", fn, strings.Join(at, ", ")))
		}
	}
	slices.Sort(found)
	return found
}

// CalledFrom returns the calls of p to functions and methods of other packages that one of refs names as
// the code spells them: "http1.ReadRequest" is the function ReadRequest of a package named http1, and
// ".ServeConn" a method ServeConn of any type; a "(" after the name is ignored. Each comes with where it is
// called, sorted. A function of p's own package is never matched: p may define a method of the same name.
func (p *Package) CalledFrom(refs ...string) []string {
	var found []string
	for name, fn := range p.funcs {
		if fn.Pkg() == nil || fn.Pkg().Path() == p.Path {
			continue
		}
		method := fn.Signature().Recv() != nil
		for _, ref := range refs {
			pkg, fname, _ := strings.Cut(strings.TrimSuffix(ref, "("), ".")
			if fname == fn.Name() && (pkg == "" && method || pkg == fn.Pkg().Name() && !method) {
				found = append(found, fmt.Sprintf("%s (%s)", strings.TrimSuffix(ref, "("), strings.Join(p.Calls[name], ", ")))
				break
			}
		}
	}
	slices.Sort(found)
	return found
}
