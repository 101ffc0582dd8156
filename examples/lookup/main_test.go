package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func lookup(t *testing.T, stdin string, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &o, &e)
	return code, o.String(), e.String()
}

func TestLookupPrintsEveryVerdict(t *testing.T) {
	sb, err := sandbox.New()
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	var args []string
	want := map[string]client.Verdict{}
	for _, d := range sb.Demo() {
		args = append(args, string(d.GTIN))
		want[string(d.GTIN)] = d.Verdict
	}
	// A 13-digit GTIN and a USCC key name products too.
	args = append(args, string(sb.Demo()[0].GTIN)[1:], string(sb.Demo()[0].USCC)+":"+sb.Demo()[0].Brand+":"+sb.Demo()[0].Model)

	code, out, errOut := lookup(t, "", append([]string{"-json"}, args...)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res []result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("-json output is not JSON: %v\n%s", err, out)
	}
	if len(res) != len(args) {
		t.Fatalf("%d results for %d keys", len(res), len(args))
	}
	for _, r := range res[:len(want)] {
		if r.Verdict != want[r.Key] {
			t.Errorf("%s: %s; want %s", r.Key, r.Verdict, want[r.Key])
		}
	}
	for _, r := range res[len(want):] {
		if r.Verdict != client.VerdictCommitted || r.Maker == "" {
			t.Errorf("%s: %+v; want the first demo product, committed", r.Key, r)
		}
	}

	code, out, _ = lookup(t, "", "-lang", "en", args[0])
	if code != exitOK || !strings.Contains(out, "VERDICT") || !strings.Contains(out, "committed") || !strings.Contains(out, "Co., Ltd.") {
		t.Errorf("table: exit %d\n%s", code, out)
	}
}

func TestLookupReadsKeysFromStdin(t *testing.T) {
	code, out, errOut := lookup(t, "# demo\n06910000100003\n\n06910002100001\n")
	if code != exitOK || strings.Count(out, "\n") != 3 || !strings.Contains(out, "inspection_failed") {
		t.Errorf("exit %d, %s\n%s", code, errOut, out)
	}
}

func TestLookupExitStatuses(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"no keys", nil, exitUsage, "usage"},
		{"bad check digit", []string{"6901234567893"}, exitUsage, "check digit"},
		{"USCC without a brand", []string{"91350100M000100Y43:"}, exitUsage, "needs a brand"},
		{"bad USCC", []string{"91350100M0O0100Y43:brand"}, exitUsage, "not allowed"},
		{"bad flag", []string{"-nope"}, exitUsage, "flag provided but not defined"},
	} {
		code, _, errOut := lookup(t, "", c.args...)
		if code != c.code || !strings.Contains(errOut, c.says) {
			t.Errorf("%s: exit %d, %q; want %d saying %q", c.name, code, errOut, c.code, c.says)
		}
	}

	// The registry unreachable: exit 1, and each key says why.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	code, out, _ := lookup(t, "", "-api", dead.URL, "-timeout", "2s", "06910000100003")
	if code != exitNoAnswer || !strings.Contains(out, "unknown") {
		t.Errorf("registry down: exit %d\n%s", code, out)
	}
}

func TestOneLineKeepsTheTableIntact(t *testing.T) {
	got := oneLine("evil\nname\t\u202eoverride" + strings.Repeat("长", 100))
	if strings.ContainsAny(got, "\n\t\u202e") || len([]rune(got)) > 61 {
		t.Errorf("oneLine = %q", got)
	}
}
