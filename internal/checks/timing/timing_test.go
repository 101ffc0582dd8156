package timing

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// root is the module's root, seen from this package's directory.
const root = "../../.."

// units are the time package's constants a guard is written in.
var units = map[string]time.Duration{
	"Nanosecond": time.Nanosecond, "Microsecond": time.Microsecond, "Millisecond": time.Millisecond,
	"Second": time.Second, "Minute": time.Minute, "Hour": time.Hour,
}

// file is one parsed _test.go file and the name it imports "time" as.
type file struct {
	path string
	ast  *ast.File
	time string
}

// testFiles parses the module's _test.go files, by directory.
func testFiles(t *testing.T, fset *token.FileSet) map[string][]file {
	t.Helper()
	dirs := map[string][]file{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		dir := filepath.Dir(rel) + " " + f.Name.Name // a directory's package and its _test package apart
		dirs[dir] = append(dirs[dir], file{path: filepath.ToSlash(rel), ast: f, time: timeName(f)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// timeName is the name f imports "time" as, "" if it does not.
func timeName(f *ast.File) string {
	for _, im := range f.Imports {
		if p, _ := strconv.Unquote(im.Path.Value); p == "time" {
			if im.Name != nil {
				return im.Name.Name
			}
			return "time"
		}
	}
	return ""
}

// consts maps the top-level constants of a package's test files to
// their values' expressions, and the name the file imports "time" as.
type constant struct {
	expr ast.Expr
	time string
}

func consts(files []file) map[string]constant {
	m := map[string]constant{}
	for _, f := range files {
		for _, decl := range f.ast.Decls {
			if g, ok := decl.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, spec := range g.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if i < len(vs.Values) {
							m[name.Name] = constant{vs.Values[i], f.time}
						}
					}
				}
			}
		}
	}
	return m
}

// duration evaluates e as a constant duration: literals, the time
// package's units, the package's constants and local ones, and + - * /
// between them. ok is false for anything else, a call among them.
func duration(e ast.Expr, timePkg string, pkg, local map[string]constant, depth int) (time.Duration, bool) {
	if depth > 8 {
		return 0, false
	}
	switch e := e.(type) {
	case *ast.ParenExpr:
		return duration(e.X, timePkg, pkg, local, depth+1)
	case *ast.BasicLit:
		if e.Kind != token.INT && e.Kind != token.FLOAT {
			return 0, false
		}
		f, err := strconv.ParseFloat(strings.ReplaceAll(e.Value, "_", ""), 64)
		return time.Duration(f), err == nil
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok && x.Name == timePkg {
			d, ok := units[e.Sel.Name]
			return d, ok
		}
	case *ast.Ident:
		for _, scope := range []map[string]constant{local, pkg} {
			if c, ok := scope[e.Name]; ok {
				return duration(c.expr, c.time, pkg, local, depth+1)
			}
		}
	case *ast.BinaryExpr:
		x, okx := duration(e.X, timePkg, pkg, local, depth+1)
		y, oky := duration(e.Y, timePkg, pkg, local, depth+1)
		if !okx || !oky {
			return 0, false
		}
		switch e.Op {
		case token.MUL:
			return x * y, true
		case token.ADD:
			return x + y, true
		case token.SUB:
			return x - y, true
		case token.QUO:
			if y != 0 {
				return x / y, true
			}
		}
	}
	return 0, false
}

// isScale reports whether e is a call of timescale.Scale.
func isScale(e ast.Expr) bool {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "Scale" && fmt.Sprint(sel.X) == "timescale"
}

// unscaledGuards lists, as "path:line: what", each time.After of a
// constant second or more, and each hangGuard not given by
// timescale.Scale, in the files of one package.
func unscaledGuards(fset *token.FileSet, files []file) []string {
	pkg := consts(files)
	var found []string
	for _, f := range files {
		at := func(n ast.Node) string {
			return fmt.Sprintf("%s:%d", f.path, fset.Position(n.Pos()).Line)
		}
		// Constants declared inside functions, wherever they are: a
		// test names a guard once, and a name shadowed with another
		// value is a rare case this check may miss, never misjudge.
		local := map[string]constant{}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			if d, ok := n.(*ast.DeclStmt); ok {
				if g, ok := d.Decl.(*ast.GenDecl); ok && g.Tok == token.CONST {
					for _, spec := range g.Specs {
						vs := spec.(*ast.ValueSpec)
						for i, name := range vs.Names {
							if i < len(vs.Values) {
								local[name.Name] = constant{vs.Values[i], f.time}
							}
						}
					}
				}
			}
			return true
		})
		ast.Inspect(f.ast, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || f.time == "" || sel.Sel.Name != "After" || len(n.Args) != 1 {
					break
				}
				if x, ok := sel.X.(*ast.Ident); !ok || x.Name != f.time {
					break
				}
				if d, ok := duration(n.Args[0], f.time, pkg, local, 0); ok && d >= time.Second {
					found = append(found, fmt.Sprintf("%s: time.After(%v), a hang guard not wrapped in timescale.Scale", at(n), d))
				}
			case *ast.GenDecl:
				if n.Tok != token.CONST && n.Tok != token.VAR {
					break
				}
				for _, spec := range n.Specs {
					vs, ok := spec.(*ast.ValueSpec)
					if !ok {
						continue
					}
					for i, name := range vs.Names {
						if !strings.Contains(strings.ToLower(name.Name), "hangguard") {
							continue
						}
						if n.Tok == token.CONST || i >= len(vs.Values) || !isScale(vs.Values[i]) {
							found = append(found, fmt.Sprintf("%s: %s %s, a hang guard not given by timescale.Scale", at(name), n.Tok, name.Name))
						}
					}
				}
			}
			return true
		})
	}
	return found
}

// Every hang guard in the tests stretches with QCSDK_TIME_SCALE: a
// time.After of a constant second or more, or a hangGuard, written
// without timescale.Scale fails here.
func TestHangGuardsScale(t *testing.T) {
	fset := token.NewFileSet()
	dirs := testFiles(t, fset)
	if len(dirs) < 20 {
		t.Fatalf("found the tests of %d packages from %s; want the module's", len(dirs), root)
	}
	var found []string
	for _, files := range dirs {
		found = append(found, unscaledGuards(fset, files)...)
	}
	sort.Strings(found)
	for _, f := range found {
		t.Error(f)
	}
}

// The check itself: what it flags and what it leaves, on sources of its
// own, so that a check that flags nothing cannot pass for a clean tree.
func TestUnscaledGuardsFindsWhatItShould(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		flagged   int
	}{
		{"literal guard", `select { case <-time.After(10 * time.Second): }`, 1},
		{"unit alone", `<-time.After(time.Minute)`, 1},
		{"assigned guard", `timeout := time.After(5*time.Second); _ = timeout`, 1},
		{"local constant", `const wait = 2 * time.Second; <-time.After(wait)`, 1},
		{"package constant", `<-time.After(guard)`, 1},
		{"scaled", `<-time.After(timescale.Scale(10 * time.Second))`, 0},
		{"a pace", `<-time.After(50 * time.Millisecond)`, 0},
		{"a variable", `d := time.Second; <-time.After(d)`, 0},
		{"another After", `var c clock; c.After(10 * time.Second)`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "package p\n\nimport \"time\"\n\nconst guard = 3 * time.Second\n\nfunc f() {\n\t" + tc.src + "\n}\n"
			if got := check(t, src); len(got) != tc.flagged {
				t.Errorf("%s: flagged %q, want %d", tc.src, got, tc.flagged)
			}
		})
	}
	for _, tc := range []struct {
		decl    string
		flagged int
	}{
		{"const hangGuard = 10 * time.Second", 1},
		{"var hangGuard = 10 * time.Second", 1},
		{"var sandboxHangGuard = timescale.Scale(10 * time.Second)", 0},
		{"var hangGuard = timescale.Scale(10 * time.Second)", 0},
	} {
		t.Run(tc.decl, func(t *testing.T) {
			src := "package p\n\nimport \"time\"\n\n" + tc.decl + "\n"
			if got := check(t, src); len(got) != tc.flagged {
				t.Errorf("%s: flagged %q, want %d", tc.decl, got, tc.flagged)
			}
		})
	}
	// A renamed import of time is still time.
	if got := check(t, "package p\n\nimport tm \"time\"\n\nfunc f() { <-tm.After(tm.Second) }\n"); len(got) != 1 {
		t.Errorf("time imported as tm: flagged %q, want 1", got)
	}
}

func check(t *testing.T, src string) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x_test.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	return unscaledGuards(fset, []file{{path: "x_test.go", ast: f, time: timeName(f)}})
}
