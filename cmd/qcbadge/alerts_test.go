package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"
)

// alertRules is a Prometheus rule file, as much of it as the tests read.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// selector is a metric named in an expression, with the labels it filters
// by: qcbadge_x{a="b",c=~"d"} or a bare qcbadge_x.
var selector = regexp.MustCompile(`\b(qcbadge_[a-z_]+)(\{[^}]*\})?`)

var matcherName = regexp.MustCompile(`([a-z_]+)\s*(=~|!~|!=|=)`)

// The alert rules are what Prometheus loads, and each watches a metric
// qcbadge has, by labels it has: a rule on a name or a label that does not
// exist would never fire. promtool checks and unit-tests them where it is
// installed (CI installs it).
func TestTheAlertRulesWatchWhatQcbadgeSays(t *testing.T) {
	raw, err := os.ReadFile("deploy/qcbadge-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules alertRules
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("qcbadge-alerts.yml: %v", err)
	}

	// What a live qcbadge exports: each metric's label names.
	_, hs := newTestService(t)
	ready(t, hs)
	fetch(t, hs.URL+"/quality/badges?gtin=06910000100003")
	exported := map[string]map[string]bool{}
	for series := range scrapeMetrics(t, hs) {
		name, labels, _ := strings.Cut(series, "{")
		if exported[name] == nil {
			exported[name] = map[string]bool{}
		}
		for _, m := range matcherName.FindAllStringSubmatch(labels, -1) {
			exported[name][m[1]] = true
		}
	}
	// Histograms: a rule reads _bucket, which the scrape above folds.
	for name, labels := range exported {
		if base, ok := strings.CutSuffix(name, "_count"); ok {
			exported[base+"_bucket"] = map[string]bool{"le": true}
			for l := range labels {
				exported[base+"_bucket"][l] = true
			}
		}
	}

	seen := map[string]bool{}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || !regexp.MustCompile(`^Qcbadge[A-Z][A-Za-z]+$`).MatchString(r.Alert) {
				t.Errorf("rule %q: an alert named QcbadgeSomething", r.Alert)
			}
			if seen[r.Alert] {
				t.Errorf("alert %s twice", r.Alert)
			}
			seen[r.Alert] = true
			if _, err := time.ParseDuration(r.For); err != nil {
				t.Errorf("%s: for %q is not a duration", r.Alert, r.For)
			}
			switch r.Labels["severity"] {
			case "critical", "warning", "info":
			default:
				t.Errorf("%s: severity %q; want critical, warning or info", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: an alert says what happened (summary) and what it means (description)", r.Alert)
			}
			sels := selector.FindAllStringSubmatch(r.Expr, -1)
			if len(sels) == 0 {
				t.Errorf("%s watches no qcbadge metric: %s", r.Alert, r.Expr)
			}
			for _, s := range sels {
				labels, ok := exported[s[1]]
				if !ok {
					t.Errorf("%s watches %s, which qcbadge does not export", r.Alert, s[1])
					continue
				}
				for _, m := range matcherName.FindAllStringSubmatch(s[2], -1) {
					if !labels[m[1]] {
						t.Errorf("%s filters %s by %s, a label it does not have", r.Alert, s[1], m[1])
					}
				}
			}
		}
	}
	for _, must := range []string{"QcbadgeRegistryRefusesKey", "QcbadgeRedisErrors", "QcbadgeFollowerLagging", "QcbadgeFollowerStalled", "QcbadgeLogForked"} {
		if !seen[must] {
			t.Errorf("no alert %s", must)
		}
	}
	if n == 0 {
		t.Fatal("no rules")
	}

	promtool := needTool(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "qcbadge-alerts.yml"},
		{"test", "rules", "qcbadge-alerts.test.yml"},
		{"check", "config", "prometheus.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "deploy"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
