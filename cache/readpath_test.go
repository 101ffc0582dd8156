package cache

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readEntryPoints are where a page view enters the package: every read a
// product page, a listing or an enquiry page makes, and the stores'
// reads beneath them.
var readEntryPoints = []string{
	"Cache.Cached", "Cache.Status", "Cache.Statuses",
	"Cache.Enterprise", "Cache.Commitment",
	"Cache.Inspection", "Cache.EnterpriseCommitments", "Cache.Inspections",
	"Cache.Enterprises", "Cache.Cases", "Cache.Categories",
	"Tiered.Get", "Tiered.GetMany", "Tiered.readLocal", "Tiered.Set",
	"Memory.Get", "Memory.readLocal", "Memory.Set",
}

// detached are the calls that make a context outside the caller's.
var detached = map[string]bool{"context.Background": true, "context.TODO": true, "context.WithoutCancel": true}

// backgroundRunners take a function to run on a goroutine of the
// package's own, bounded by its own context: what they run is not on a
// page's path, which does not wait for it.
var backgroundRunners = map[string]bool{"spawn": true, "background": true, "Go": true}

// Every read path runs under its caller's context: no store or network
// I/O a page waits for escapes the page's deadline. The test walks the
// package's calls from each read entry point, by name (a name any method
// has is followed into every method of that name, which errs on the
// side of walking too much), and fails on a detached context anywhere on
// the way. Work handed to a goroutine of the package's own (spawn,
// Tiered.background, a WaitGroup's Go, a go statement) is not walked:
// nothing on the page's path waits for it.
func TestReadPathsRunUnderTheCallersContext(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	decls := map[string][]*ast.FuncDecl{} // by name, and by Recv.Name
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			decls[fd.Name.Name] = append(decls[fd.Name.Name], fd)
			if fd.Recv != nil {
				decls[recvName(fd)+"."+fd.Name.Name] = append(decls[recvName(fd)+"."+fd.Name.Name], fd)
			}
		}
	}
	seen := map[*ast.FuncDecl]bool{}
	var walk func(fd *ast.FuncDecl, path []string)
	walk = func(fd *ast.FuncDecl, path []string) {
		if seen[fd] {
			return
		}
		seen[fd] = true
		path = append(path, funcName(fd))
		var visit func(n ast.Node) bool
		visit = func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				return false
			case *ast.CallExpr:
				name, pkg := callName(n)
				if detached[pkg+"."+name] {
					t.Errorf("%s: %s.%s on a read path: %s", fset.Position(n.Pos()), pkg, name, strings.Join(path, " → "))
				}
				if backgroundRunners[name] {
					// The arguments are evaluated here; a function
					// literal's body runs on the other goroutine.
					for _, a := range n.Args {
						if _, lit := a.(*ast.FuncLit); !lit {
							ast.Inspect(a, visit)
						}
					}
					return false
				}
				for _, callee := range decls[name] {
					walk(callee, path)
				}
			}
			return true
		}
		ast.Inspect(fd.Body, visit)
	}
	for _, ep := range readEntryPoints {
		fds := decls[ep]
		if len(fds) == 0 {
			t.Errorf("no function %s: the list of entry points is out of date", ep)
		}
		for _, fd := range fds {
			walk(fd, nil)
		}
	}
	// The walk must reach the functions that do a read's I/O: a walk that
	// stopped early would pass whatever they did.
	for _, must := range []string{"peekMany", "peekStore", "fallback", "settle", "through", "begin", "await"} {
		reached := false
		for _, fd := range decls[must] {
			reached = reached || seen[fd]
		}
		if !reached {
			t.Errorf("the walk never reached %s", must)
		}
	}
}

func recvName(fd *ast.FuncDecl) string {
	typ := fd.Recv.List[0].Type
	if st, ok := typ.(*ast.StarExpr); ok {
		typ = st.X
	}
	if ix, ok := typ.(*ast.IndexExpr); ok {
		typ = ix.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

func funcName(fd *ast.FuncDecl) string {
	if fd.Recv != nil {
		return recvName(fd) + "." + fd.Name.Name
	}
	return fd.Name.Name
}

// callName is the called function's name, and the package or value it is
// selected from ("" for none).
func callName(c *ast.CallExpr) (name, from string) {
	fun := c.Fun
	if ix, ok := fun.(*ast.IndexExpr); ok { // a generic function's instance
		fun = ix.X
	}
	switch f := fun.(type) {
	case *ast.Ident:
		return f.Name, ""
	case *ast.SelectorExpr:
		if id, ok := f.X.(*ast.Ident); ok {
			return f.Sel.Name, id.Name
		}
		return f.Sel.Name, ""
	}
	return "", ""
}
