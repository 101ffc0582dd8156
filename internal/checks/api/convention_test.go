package api_test

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// notOptions are the exported With… functions that are not options, and
// why.
var notOptions = map[string]string{
	"client.WithPriority": "marks a context, as context.WithValue does: a call's priority travels with its request",
}

// TestOptionsCanFail holds the convention every constructor follows: an
// option is a func(*T) error, so that a value out of range is an error
// from New, once, at start-up; and every exported With… function of a
// public package returns such an option.
func TestOptionsCanFail(t *testing.T) {
	root := moduleRoot(t)
	for _, c := range ceilings {
		dir := filepath.Join(root, filepath.FromSlash(c.pkg))
		bp, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		options := map[string]bool{} // the package's option types
		var withs []*ast.FuncDecl
		fset := token.NewFileSet()
		for _, name := range bp.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.GenDecl:
					for _, s := range d.Specs {
						ts, ok := s.(*ast.TypeSpec)
						if !ok || !ts.Name.IsExported() || !strings.HasSuffix(ts.Name.Name, "Option") {
							continue
						}
						options[ts.Name.Name] = true
						if !returnsOnlyError(ts.Type) {
							t.Errorf("%s.%s is not a func(*T) error: an option that cannot fail makes a wrong value a silent default", c.pkg, ts.Name.Name)
						}
					}
				case *ast.FuncDecl:
					if d.Recv == nil && d.Name.IsExported() && strings.HasPrefix(d.Name.Name, "With") {
						withs = append(withs, d)
					}
				}
			}
		}
		for _, fn := range withs {
			qualified := filepath.Base(c.pkg) + "." + fn.Name.Name
			if _, ok := notOptions[qualified]; ok {
				continue
			}
			res := fn.Type.Results
			if res == nil || len(res.List) != 1 {
				t.Errorf("%s returns %d results; an option function returns one option", qualified, res.NumFields())
				continue
			}
			id, ok := res.List[0].Type.(*ast.Ident)
			if !ok || !options[id.Name] {
				t.Errorf("%s does not return one of %s's option types %v", qualified, c.pkg, slices.Sorted(maps.Keys(options)))
			}
		}
	}
}

// returnsOnlyError reports whether typ is a func type whose one result is
// error.
func returnsOnlyError(typ ast.Expr) bool {
	ft, ok := typ.(*ast.FuncType)
	if !ok || ft.Results == nil || len(ft.Results.List) != 1 {
		return false
	}
	id, ok := ft.Results.List[0].Type.(*ast.Ident)
	return ok && id.Name == "error"
}
