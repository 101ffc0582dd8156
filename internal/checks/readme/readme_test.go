//go:build unix

// Unix only: a program the README runs is killed with its process group.

package readme

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// block is one ```go block of the README.
type block struct {
	line   int // of the opening fence, 1-based
	code   string
	closed bool
	dir    directive
	dirErr error
}

// directive is what the HTML comment before a block asks of it.
type directive struct {
	verb    string // "" (build only), "run" or "serve"
	expects []string
	gets    []get // serve only
}

type get struct {
	path    string
	expects []string
	// again views the page until its expectations hold, within the serve's
	// time, as a shopper reloads: a cold page may show the neutral badge
	// where its budget ran out, and the lookup it started answers a later
	// view.
	again bool
}

// parseREADME returns the README's ```go blocks, and the lines of
// readme-test directives that precede no ```go block: a directive that
// checks nothing must not pass for one that does.
func parseREADME(src string) (blocks []block, orphans []int) {
	lines := strings.Split(src, "\n")
	// Directives outside code, by line index; true until a block takes it.
	directives := map[int]bool{}
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimLeft(lines[i], " ")
		ticks := len(trimmed) - len(strings.TrimLeft(trimmed, "`"))
		if ticks < 3 {
			if isDirective(lines[i]) {
				directives[i] = true
			}
			continue
		}
		indent := len(lines[i]) - len(trimmed)
		isGo := strings.TrimSpace(trimmed[ticks:]) == "go"
		b := block{line: i + 1}
		var code []string
		for i++; i < len(lines); i++ {
			t := strings.TrimSpace(lines[i])
			if len(t) >= ticks && strings.Trim(t, "`") == "" {
				b.closed = true
				break
			}
			// A fence in a list item is indented; its code is not.
			l := lines[i]
			l = l[min(indent, len(l)-len(strings.TrimLeft(l, " "))):]
			code = append(code, strings.TrimRight(l, "\r"))
		}
		if !isGo {
			continue
		}
		b.code = strings.Join(code, "\n") + "\n"
		// The directive is on the line before the fence, or the one before that.
		for _, j := range []int{b.line - 2, b.line - 3} {
			if directives[j] {
				b.dir, b.dirErr = parseDirective(lines[j])
				directives[j] = false
				break
			}
		}
		blocks = append(blocks, b)
	}
	for j := range lines {
		if directives[j] {
			orphans = append(orphans, j+1)
		}
	}
	return blocks, orphans
}

var directiveRE = regexp.MustCompile(`^<!--\s*readme-test:(.*?)-->$`)

func isDirective(line string) bool { return directiveRE.MatchString(strings.TrimSpace(line)) }

// parseDirective reads `<!-- readme-test: VERB name="value" ... -->`. Values
// are Go string literals, so an expected substring may hold a quote (\").
func parseDirective(line string) (directive, error) {
	m := directiveRE.FindStringSubmatch(strings.TrimSpace(line))
	if m == nil {
		return directive{}, fmt.Errorf("not a readme-test directive: %q", line)
	}
	var d directive
	rest := strings.TrimSpace(m[1])
	d.verb, rest, _ = strings.Cut(rest, " ")
	if d.verb != "run" && d.verb != "serve" {
		return directive{}, fmt.Errorf("readme-test directive %q: the verb must be run or serve", line)
	}
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
		name, after, ok := strings.Cut(rest, "=")
		if !ok {
			return directive{}, fmt.Errorf("readme-test directive %q: want name=\"value\" at %q", line, rest)
		}
		quoted, err := strconv.QuotedPrefix(after)
		if err != nil {
			return directive{}, fmt.Errorf("readme-test directive %q: the value of %s is not a quoted string", line, name)
		}
		value, _ := strconv.Unquote(quoted)
		rest = after[len(quoted):]
		switch {
		case name == "expect" && d.verb == "run":
			d.expects = append(d.expects, value)
		case (name == "get" || name == "again") && d.verb == "serve":
			if !strings.HasPrefix(value, "/") {
				return directive{}, fmt.Errorf("readme-test directive %q: %s %q must start with /", line, name, value)
			}
			d.gets = append(d.gets, get{path: value, again: name == "again"})
		case name == "expect" && d.verb == "serve":
			if len(d.gets) == 0 {
				return directive{}, fmt.Errorf("readme-test directive %q: an expect before any get", line)
			}
			g := &d.gets[len(d.gets)-1]
			g.expects = append(g.expects, value)
		default:
			return directive{}, fmt.Errorf("readme-test directive %q: %s does not take %s", line, d.verb, name)
		}
	}
	if d.verb == "serve" && len(d.gets) == 0 {
		return directive{}, fmt.Errorf("readme-test directive %q: serve needs a get", line)
	}
	for _, g := range d.gets {
		if g.again && len(g.expects) == 0 {
			return directive{}, fmt.Errorf("readme-test directive %q: again %q needs an expect to wait for", line, g.path)
		}
	}
	return d, nil
}

// problem says why the block cannot be tested, or returns nil.
func (b block) problem() error {
	first, _, _ := strings.Cut(strings.TrimSpace(b.code), "\n")
	if r := []rune(first); len(r) > 60 {
		first = string(r[:60]) + "…"
	}
	at := fmt.Sprintf("README.md:%d (block starting %q)", b.line, first)
	if !b.closed {
		return fmt.Errorf("%s: the fence is never closed", at)
	}
	if b.dirErr != nil {
		return fmt.Errorf("%s: %v", at, b.dirErr)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", b.code, parser.PackageClauseOnly)
	if err != nil || f.Name.Name != "main" {
		return fmt.Errorf("%s: not a complete program; README Go blocks must be complete programs, starting with package main", at)
	}
	return nil
}

func TestREADMEGoBlocks(t *testing.T) {
	// Under CI nothing skips: -short asks for speed, and this gate is the
	// README's only one.
	ci := os.Getenv("QCSDK_CI") == "1"
	if testing.Short() && !ci {
		t.Skip("builds every Go block of README.md: not in -short")
	}
	if _, err := exec.LookPath("go"); err != nil {
		if ci {
			t.Fatal("no go command on PATH (QCSDK_CI=1)")
		}
		t.Skip("no go command on PATH: cannot build README.md's Go blocks")
	}
	root, err := filepath.Abs(filepath.Join("..", "..", "..")) // internal/checks/readme
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, orphans := parseREADME(string(src))
	for _, line := range orphans {
		t.Errorf("README.md:%d: a readme-test directive with no ```go block on the next line or the one after", line)
	}
	for _, b := range blocks {
		// One block at a time: each is a go build, and five at once on a
		// two-core CI machine starve the timing of every other package's
		// tests running beside them.
		t.Run(fmt.Sprintf("line%d", b.line), func(t *testing.T) {
			if err := b.problem(); err != nil {
				t.Fatal(err)
			}
			dir := build(t, root, b.code)
			switch b.dir.verb {
			case "run":
				run(t, dir, b.dir.expects)
			case "serve":
				serve(t, dir, b.dir.gets)
			}
		})
	}
}

// build makes a module of the block that requires this one from the
// working tree, so the README is held to the code beside it, and
// returns its directory with the program built as prog.
func build(t *testing.T, root, code string) string {
	dir := t.TempDir()
	goMod := fmt.Sprintf("module example.com/readme\n\ngo 1.26\n\nrequire github.com/qualitycommit/qcsdk v0.0.0\n\nreplace github.com/qualitycommit/qcsdk => %s\n", root)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"go.mod": goMod, "go.sum": string(sum), "main.go": code} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"mod", "tidy"}, {"vet", "./..."}, {"build", "-o", "prog", "."}} {
		ctx, cancel := context.WithTimeout(t.Context(), timescale.Scale(5*time.Minute))
		cmd := command(ctx, dir, "go", args...)
		// A go.work named by the environment would not hold this module.
		cmd.Env = append(cmd.Environ(), "GOWORK=off")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return dir
}

// command runs in its own process group, all of which a cancelled
// context kills: a program's children must not outlive the test.
func command(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func run(t *testing.T, dir string, expects []string) {
	ctx, cancel := context.WithTimeout(t.Context(), timescale.Scale(60*time.Second))
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := command(ctx, dir, filepath.Join(dir, "prog"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("running the program: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	for _, want := range expects {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the program's output lacks %q\nstdout:\n%s\nstderr:\n%s", want, &stdout, &stderr)
		}
	}
}

func serve(t *testing.T, dir string, gets []get) {
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	cmd := command(ctx, dir, filepath.Join(dir, "prog"))
	cmd.Env = append(cmd.Environ(), "PORT="+port)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	// stop kills the program and returns what it printed, which is safe
	// to read once Wait has returned.
	stop := func() string {
		cancel()
		<-exited
		return out.String()
	}
	t.Cleanup(func() { stop() })

	deadline, cancelDeadline := context.WithTimeout(t.Context(), timescale.Scale(60*time.Second))
	defer cancelDeadline()
	for _, g := range gets {
		url := "http://127.0.0.1:" + port + g.path
	views:
		for view := 1; ; view++ {
			body, status, err := getWhenReady(deadline, url, exited)
			if err != nil {
				t.Fatalf("GET %s: %v\nthe program's output:\n%s", url, err, stop())
			}
			if status != http.StatusOK {
				t.Errorf("GET %s: status %d, want 200\n%s", url, status, body)
				break
			}
			var lacks []string
			for _, want := range g.expects {
				if !strings.Contains(body, want) {
					lacks = append(lacks, want)
				}
			}
			if len(lacks) == 0 {
				if g.again {
					t.Logf("GET %s: as expected on view %d", url, view)
				}
				break
			}
			if !g.again {
				t.Errorf("GET %s: the body lacks %q\n%s", url, lacks, body)
				break
			}
			select {
			case <-deadline.Done():
				t.Errorf("GET %s: after %d views in 60 s, the body still lacks %q\n%s", url, view, lacks, body)
				break views
			case <-time.After(50 * time.Millisecond): // a shopper's reload, not a synchronisation
			}
		}
	}
}

// getWhenReady polls url until the program listens, fails, or exits.
func getWhenReady(ctx context.Context, url string, exited <-chan struct{}) (body string, status int, err error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return "", 0, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b), resp.StatusCode, err
		}
		if ctx.Err() != nil {
			return "", 0, fmt.Errorf("no answer within 60 s: %w", err)
		}
		var op *net.OpError
		if !errors.As(err, &op) {
			return "", 0, err
		}
		select {
		case <-exited:
			return "", 0, errors.New("the program exited before it answered")
		case <-time.After(100 * time.Millisecond): // the retry's wait, not a synchronisation
		}
	}
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func TestParseREADME(t *testing.T) {
	src := "# title\n" + // 1
		"```sh\n" + // 2
		"go run .\n" + // 3
		"```\n" + // 4
		"<!-- readme-test: run expect=\"hello\" expect=\"a \\\"quoted\\\" word\" -->\n" + // 5
		"```go\n" + // 6
		"// Hello greets.\n" + // 7
		"package main\n" + // 8
		"```\n" + // 9
		"```html\n" + // 10
		"<!-- readme-test: run -->\n" + // 11: in code, not a directive
		"```\n" + // 12
		"<!-- readme-test: serve get=\"/a?x=1\" expect=\"one\" expect=\"two\" get=\"/b\" again=\"/b\" expect=\"three\" -->\n" + // 13
		"\n" + // 14
		"```go\n" + // 15
		"package main\n" + // 16
		"```\n" + // 17
		"Text.\n" + // 18
		"```go\n" + // 19
		"api, err := client.New()\n" + // 20
		"```\n" + // 21
		"<!-- readme-test: run -->\n" + // 22
		"```Go\n" + // 23
		"package main\n" + // 24
		"```\n" // 25
	blocks, orphans := parseREADME(src)
	if len(orphans) != 1 || orphans[0] != 22 {
		t.Errorf("orphan directives at %v, want [22] (```Go is not ```go)", orphans)
	}
	if len(blocks) != 3 {
		t.Fatalf("%d blocks, want 3: %+v", len(blocks), blocks)
	}
	run, serve, fragment := blocks[0], blocks[1], blocks[2]
	if run.line != 6 || serve.line != 15 || fragment.line != 19 {
		t.Errorf("blocks at lines %d, %d, %d; want 6, 15, 19", run.line, serve.line, fragment.line)
	}
	if run.code != "// Hello greets.\npackage main\n" {
		t.Errorf("first block's code %q", run.code)
	}
	if d := run.dir; d.verb != "run" || len(d.expects) != 2 || d.expects[0] != "hello" || d.expects[1] != `a "quoted" word` {
		t.Errorf("run directive %+v", d)
	}
	if d := serve.dir; d.verb != "serve" || len(d.gets) != 3 ||
		d.gets[0].path != "/a?x=1" || strings.Join(d.gets[0].expects, ",") != "one,two" || d.gets[0].again ||
		d.gets[1].path != "/b" || len(d.gets[1].expects) != 0 || d.gets[1].again ||
		d.gets[2].path != "/b" || strings.Join(d.gets[2].expects, ",") != "three" || !d.gets[2].again {
		t.Errorf("serve directive %+v", d)
	}
	if fragment.dir.verb != "" {
		t.Errorf("a block without a directive got %+v", fragment.dir)
	}
	for _, b := range blocks[:2] {
		if err := b.problem(); err != nil {
			t.Errorf("line %d: %v", b.line, err)
		}
	}
	err := fragment.problem()
	if err == nil || !strings.Contains(err.Error(), "README.md:19") || !strings.Contains(err.Error(), "api, err := client.New()") ||
		!strings.Contains(err.Error(), "must be complete programs") {
		t.Errorf("the fragment's problem: %v", err)
	}
}

func TestParseDirectiveRejects(t *testing.T) {
	for _, line := range []string{
		`<!-- readme-test: build -->`,
		`<!-- readme-test: run get="/" -->`,
		`<!-- readme-test: serve -->`,
		`<!-- readme-test: serve expect="x" get="/" -->`,
		`<!-- readme-test: serve get="x" -->`,
		`<!-- readme-test: run expect=hello -->`,
		`<!-- readme-test: run expect="hello -->`,
		`<!-- readme-test: run again="/" expect="x" -->`,
		`<!-- readme-test: serve again="x" expect="y" -->`,
		`<!-- readme-test: serve get="/" again="/" -->`,
	} {
		if d, err := parseDirective(line); err == nil {
			t.Errorf("%s: accepted as %+v", line, d)
		}
	}
}

func TestUnclosedBlock(t *testing.T) {
	blocks, _ := parseREADME("```go\npackage main\n")
	if len(blocks) != 1 || blocks[0].problem() == nil {
		t.Errorf("an unclosed block is not reported: %+v", blocks)
	}
}
