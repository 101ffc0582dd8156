package api_test

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"go/types"
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

// stringBarcodes are the exported functions and methods that take a
// barcode as a string or an any, and why: each is an edge, where a
// barcode arrives as text.
var stringBarcodes = map[string]string{
	"widget.Page.Badge":  "a template's call: templates hold strings, and a misuse renders the neutral badge",
	"widget.Page.JSONLD": "a template's call, as Badge",
}

// TestBarcodesAreGTINs holds the convention that a Go API takes a barcode
// as a client.GTIN, validated once where it enters (ParseGTIN or
// UnmarshalText), not as a string or an any each function parses again:
// every exported function or method of a public package with a parameter
// named gtin or gtins takes a client.GTIN (or a slice of them), unless
// stringBarcodes says why not.
func TestBarcodesAreGTINs(t *testing.T) {
	root := moduleRoot(t)
	seen := map[string]bool{}
	for _, c := range ceilings {
		dir := filepath.Join(root, filepath.FromSlash(c.pkg))
		bp, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		for _, name := range bp.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || !fn.Name.IsExported() {
					continue
				}
				qualified := filepath.Base(c.pkg) + "." + fn.Name.Name
				if fn.Recv != nil {
					recv := receiverName(fn.Recv.List[0].Type)
					if !ast.IsExported(recv) {
						continue
					}
					qualified = filepath.Base(c.pkg) + "." + recv + "." + fn.Name.Name
				}
				if _, ok := stringBarcodes[qualified]; ok {
					seen[qualified] = true
					continue
				}
				for _, p := range fn.Type.Params.List {
					for _, n := range p.Names {
						if l := strings.ToLower(n.Name); l != "gtin" && l != "gtins" {
							continue
						}
						if !isGTIN(p.Type, c.pkg == "client") {
							t.Errorf("%s takes %s as %s: a barcode in a Go API is a client.GTIN, parsed once at the edge (or say in stringBarcodes why this is an edge)",
								qualified, n.Name, types.ExprString(p.Type))
						}
					}
				}
			}
		}
	}
	for name := range stringBarcodes {
		if !seen[name] {
			t.Errorf("stringBarcodes names %s, which no public package declares: remove it", name)
		}
	}
}

// receiverName is the type name of a method's receiver, *T or T.
func receiverName(x ast.Expr) string {
	if s, ok := x.(*ast.StarExpr); ok {
		x = s.X
	}
	if ix, ok := x.(*ast.IndexExpr); ok { // a generic type's method
		x = ix.X
	}
	if id, ok := x.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

// isGTIN reports whether x is client.GTIN (GTIN inside package client),
// a slice of it, or a variadic list of it.
func isGTIN(x ast.Expr, inClient bool) bool {
	switch e := x.(type) {
	case *ast.Ellipsis:
		return isGTIN(e.Elt, inClient)
	case *ast.ArrayType:
		return isGTIN(e.Elt, inClient)
	case *ast.Ident:
		return inClient && e.Name == "GTIN"
	case *ast.SelectorExpr:
		id, ok := e.X.(*ast.Ident)
		return ok && id.Name == "client" && e.Sel.Name == "GTIN"
	}
	return false
}
