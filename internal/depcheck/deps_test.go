package depcheck_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/qualitycommit/qcsdk"

// The third-party modules a package may build on, its own and those of
// the packages it may import. A chosen dependency brings its own along
// (go-retryablehttp: go-cleanhttp; go-redis: xxhash, x/sys, atomic).
// go-redis is the Redis store's alone: a platform that caches in memory
// only does not compile it.
var (
	clientModules = []string{"github.com/hashicorp/go-retryablehttp", "github.com/hashicorp/go-cleanhttp", "golang.org/x/time", "golang.org/x/text"}
	cacheModules  = append(slices.Clone(clientModules), "github.com/patrickmn/go-cache")
	redisModules  = append(slices.Clone(cacheModules),
		"github.com/redis/go-redis/v9", "github.com/cespare/xxhash/v2", "go.uber.org/atomic", "golang.org/x/sys")
)

var rules = []struct {
	pkg     string
	modules []string
	// mayImport are the module's packages the package may use, by prefix.
	mayImport []string
}{
	{"client", clientModules, []string{"client", "internal/locale"}},
	{"cache", cacheModules, []string{"cache", "client", "internal/locale"}},
	{"cache/redisstore", redisModules, []string{"cache", "client", "internal/locale"}},
	{"widget", cacheModules, []string{"widget", "cache", "client", "internal/etag", "internal/locale"}},
	{"enquiry", cacheModules, []string{"enquiry", "widget", "cache", "client", "internal/etag", "internal/locale"}},
	{"audit", clientModules, []string{"audit", "client", "internal/locale"}},
	{"sandbox", clientModules, []string{"sandbox", "client", "internal/etag", "internal/locale"}},
	{"cmd/qcsandbox", clientModules, []string{"cmd/qcsandbox", "sandbox", "client", "internal/etag", "internal/locale"}},
}

func TestDependenciesAreTheDesigns(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-deps",
			"-f", "{{if not .Standard}}{{.ImportPath}} {{with .Module}}{{.Path}}{{end}}{{end}}", module+"/"+r.pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", r.pkg, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			path, mod, _ := strings.Cut(line, " ")
			if mod == module {
				own := strings.TrimPrefix(path, module+"/")
				if !slices.ContainsFunc(r.mayImport, func(p string) bool { return own == p || strings.HasPrefix(own, p+"/") }) {
					t.Errorf("%s imports %s: the design does not let it (data flows enquiry → widget → cache → client)", r.pkg, own)
				}
				continue
			}
			if !slices.Contains(r.modules, mod) {
				t.Errorf("%s depends on %s (module %s), which the design does not allow", r.pkg, path, mod)
			}
		}
	}
}
