package deps_test

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
	// The client verifies the registry's log with golang.org/x/mod's
	// sumdb/tlog and sumdb/note, the Merkle-log library the design names.
	clientModules = []string{"github.com/hashicorp/go-retryablehttp", "github.com/hashicorp/go-cleanhttp", "golang.org/x/time", "golang.org/x/text",
		"golang.org/x/mod"}
	cacheModules = append(slices.Clone(clientModules), "github.com/patrickmn/go-cache")
	redisModules = append(slices.Clone(cacheModules),
		"github.com/redis/go-redis/v9", "github.com/cespare/xxhash/v2", "go.uber.org/atomic", "golang.org/x/sys")
	// The catalogue's index and the audit's spill are SQLite, in pure Go.
	sqliteModules = append(slices.Clone(clientModules), "modernc.org/sqlite", "modernc.org/libc", "modernc.org/mathutil",
		"modernc.org/memory", "github.com/dustin/go-humanize", "github.com/google/uuid", "github.com/remyoudompheng/bigfft",
		"golang.org/x/sys")
	// The audit remembers answers in golang-lru's LRU, and so does every
	// package built on it.
	auditModules     = append(slices.Clone(clientModules), lruModule)
	auditDiskModules = append(slices.Clone(sqliteModules), lruModule)
	// qcaudit draws its progress bar with schollz/progressbar.
	qcauditModules = append(append(slices.Clone(redisModules), auditDiskModules...), "github.com/schollz/progressbar/v3",
		"github.com/mitchellh/colorstring", "github.com/rivo/uniseg", "golang.org/x/term")
	// qcbadge exports its metrics with Prometheus's client library.
	qcbadgeModules = append(slices.Clone(redisModules), "github.com/prometheus/client_golang", "github.com/prometheus/client_model",
		"github.com/prometheus/common", "github.com/prometheus/procfs", "github.com/beorn7/perks", "github.com/munnerz/goautoneg",
		"google.golang.org/protobuf")
	localeModules = []string{"golang.org/x/text"}
)

const lruModule = "github.com/hashicorp/golang-lru/v2"

// anything marks, with a nil mayImport, a package that may import what
// it likes: a load harness, an example program, a test kit.
var anything []string

type rule struct {
	pkg     string
	modules []string // the third-party modules it may build on
	// mayImport are the module's packages the package may use, by prefix;
	// nil for a package that may import anything (its modules unchecked).
	mayImport []string
}

var rules = []rule{
	{"client", clientModules, []string{"client", "internal/backoff", "internal/idem", "internal/locale"}},
	{"cache", cacheModules, []string{"cache", "client", "internal/backoff", "internal/idem", "internal/locale"}},
	{"cache/redisstore", redisModules, []string{"cache", "client", "internal/backoff", "internal/idem", "internal/locale"}},
	{"widget", cacheModules, []string{"widget", "cache", "client", "internal/etag", "internal/backoff", "internal/idem", "internal/locale"}},
	{"enquiry", cacheModules, []string{"enquiry", "widget", "cache", "client", "internal/etag", "internal/backoff", "internal/idem", "internal/locale"}},
	{"audit", auditModules, []string{"audit", "client", "internal/backoff", "internal/idem", "internal/locale"}},
	{"sandbox", clientModules, []string{"sandbox", "client", "internal/etag", "internal/backoff", "internal/idem", "internal/locale"}},
	{"cmd/qcsandbox", clientModules, []string{"cmd/qcsandbox", "sandbox", "client", "internal/etag", "internal/backoff", "internal/idem", "internal/locale"}},
	{"audit/spill", auditDiskModules, []string{"audit", "client", "internal/backoff", "internal/idem", "internal/locale"}},
	{"audit/watch", auditDiskModules, []string{"audit", "client", "internal/backoff", "internal/idem", "internal/locale"}},
	// qcaudit and qcbadge embed the sandbox only as their no-argument default.
	{"cmd/qcaudit", qcauditModules, []string{"cmd/qcaudit", "audit", "cache", "client", "sandbox",
		"internal/backoff", "internal/idem", "internal/etag", "internal/locale"}},
	{"cmd/qcbadge", qcbadgeModules, []string{"cmd/qcbadge", "enquiry", "widget", "cache", "client", "sandbox",
		"internal/etag", "internal/backoff", "internal/idem", "internal/locale"}},
	// qcverify checks badges with the client's log functions (and
	// x/mod's note keys); it embeds the sandbox, a cache and a widget
	// only for its no-argument demo.
	{"cmd/qcverify", cacheModules, []string{"cmd/qcverify", "widget", "cache", "client", "sandbox",
		"internal/etag", "internal/backoff", "internal/idem", "internal/locale"}},
	{"cache/internal/intern", clientModules, []string{"cache/internal/intern", "client", "internal/backoff", "internal/idem", "internal/locale"}},
	{"cache/storetest", cacheModules, []string{"cache", "client", "internal/backoff", "internal/idem", "internal/locale"}},
	{"internal/backoff", nil, []string{"internal/backoff"}},
	{"internal/idem", nil, []string{"internal/idem"}},
	{"internal/etag", nil, []string{"internal/etag"}},
	{"internal/locale", localeModules, []string{"internal/locale"}},
	{"api", nil, []string{"api"}},
	{"cmd/qcload", anything, nil},
	{"examples/lookup", anything, nil},
	{"examples/storefront", anything, nil},
	{"examples/syncworker", anything, nil},
	{"examples/webhook", anything, nil},
	// The kits of tests and tools, and the module's own checks: no package
	// above may import them, as none lists them.
	{"internal/checks/deps", anything, nil},
	{"internal/checks/api", anything, nil},
	{"internal/checks/figures", anything, nil},
	{"internal/checks/readme", anything, nil},
	{"internal/checks/timing", anything, nil},
	{"internal/testkit/faultproxy", anything, nil},
	{"internal/testkit/heavy", anything, nil},
	{"internal/testkit/redistest", anything, nil},
	{"internal/testkit/sdktest", anything, nil},
	{"internal/testkit/testio", anything, nil},
	{"internal/testkit/timescale", anything, nil},
	{"internal/testkit/zipf", anything, nil},
}

// Every package of the module has a rule: a new one is placed in the
// design on purpose, not by default.
func TestEveryPackageHasARule(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command("go", "list", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, path := range strings.Fields(string(out)) {
		own := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
		if !slices.ContainsFunc(rules, func(r rule) bool { return r.pkg == own }) {
			t.Errorf("package %s has no rule in TestDependenciesAreTheDesigns: say what it may import", own)
		}
	}
}

func TestDependenciesAreTheDesigns(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	for _, r := range rules {
		if r.mayImport == nil {
			continue // anything
		}
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
