package api_test

import (
	"bytes"
	"github.com/qualitycommit/qcsdk/internal/testkit/heavy"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The generators the contract must satisfy, pinned in gencheck/go.mod: a
// module of its own so that the main module's go.mod never requires them.
const (
	ogenTool = "github.com/ogen-go/ogen/cmd/ogen"
	oapiTool = "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen"
)

// networkFailure matches what the go command prints when it cannot reach
// the module proxy.
var networkFailure = regexp.MustCompile(`dial tcp|no such host|connection refused|i/o timeout|network is unreachable|TLS handshake|proxy\.golang\.org|GOPROXY|server misbehaving|unexpected EOF`)

// TestGenerators generates a client and server from openapi.yaml with ogen
// and with oapi-codegen, at the versions gencheck/go.mod pins, compiles
// the generated code, and checks that no operation was dropped on the
// way. Under QCSDK_CI=1 nothing may skip it.
func TestGenerators(t *testing.T) {
	heavy.Suite(t, "the code generators' check")
	if testing.Short() {
		t.Skip("runs two code generators and compiles their output")
	}
	ci := os.Getenv("QCSDK_CI") == "1"
	gobin, err := exec.LookPath("go")
	if err != nil {
		if ci {
			t.Fatalf("QCSDK_CI=1 but the go command is not on PATH: %v", err)
		}
		t.Skipf("the go command is not on PATH: %v", err)
	}
	gencheck, err := filepath.Abs("gencheck")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := filepath.Abs("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	run := func(dir string, name string, args ...string) ([]byte, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = env
		return cmd.CombinedOutput()
	}

	// Build both generators; this is where the module proxy is needed when
	// the module cache does not hold them yet.
	bin := filepath.Join(tmp, "bin")
	if out, err := run(gencheck, gobin, "build", "-o", bin+string(filepath.Separator), ogenTool, oapiTool); err != nil {
		if !ci && networkFailure.Match(out) {
			t.Skipf("cannot fetch the generators (is the module proxy reachable?): %v\n%s", err, out)
		}
		t.Fatalf("go build of the generators: %v\n%s", err, out)
	}

	// The temporary module the generated code is built in requires what
	// gencheck requires, so the runtime libraries are pinned with the
	// generators that need them.
	mod := filepath.Join(tmp, "generated")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(gencheck, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	gomod = regexp.MustCompile(`(?m)^module .*$`).ReplaceAll(gomod, []byte("module example.com/generated"))
	gosum, err := os.ReadFile(filepath.Join(gencheck, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), gomod, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "go.sum"), gosum, 0o644); err != nil {
		t.Fatal(err)
	}

	// ogen fails on a schema feature it does not implement (there is no
	// ogen.yml to tell it to ignore one) and logs "Skipping operation" for
	// an operation it drops anyway; both are failures here.
	ogenDir := filepath.Join(mod, "ogenapi")
	out, err := run(tmp, filepath.Join(bin, "ogen"), "-package", "ogenapi", "-target", ogenDir, "-clean", spec)
	if err != nil {
		t.Fatalf("ogen: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "Skipping operation") || strings.Contains(line, "not implemented") {
			t.Errorf("ogen: %s", strings.TrimSpace(line))
		}
	}

	oapiDir := filepath.Join(mod, "oapiapi")
	if err := os.MkdirAll(oapiDir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err = run(tmp, filepath.Join(bin, "oapi-codegen"), "-generate", "types,client,std-http-server", "-package", "oapiapi", "-o", filepath.Join(oapiDir, "oapiapi.go"), spec)
	if err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, out)
	}

	if out, err := run(mod, gobin, "build", "./..."); err != nil {
		t.Fatalf("go build of the generated code: %v\n%s", err, out)
	}

	ogenCode := readGo(t, ogenDir)
	oapiCode := readGo(t, oapiDir)
	doc := loadSpec(t)
	var ids []string
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			ids = append(ids, op.OperationID)
		}
	}
	slices.Sort(ids)
	if len(ids) != 22 {
		t.Errorf("the document has %d operations, want 22", len(ids))
	}
	for _, id := range ids {
		method := []byte("func (c *Client) " + exported(id) + "(")
		if !bytes.Contains(ogenCode, method) || !bytes.Contains(ogenCode, []byte(`otelogen.OperationID("`+id+`")`)) {
			t.Errorf("ogen generated no client method for %s", id)
		}
		if !bytes.Contains(oapiCode, method) {
			t.Errorf("oapi-codegen generated no client method for %s", id)
		}
	}
}

// readGo returns the Go files of dir, concatenated.
func readGo(t *testing.T, dir string) []byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// exported is the Go name both generators give an operationId.
func exported(id string) string {
	r, n := utf8.DecodeRuneInString(id)
	return string(unicode.ToUpper(r)) + id[n:]
}
