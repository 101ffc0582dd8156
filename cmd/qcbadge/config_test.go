package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A setting that cannot work exits 2 with one line naming it, and never
// echoes a secret.
func TestASettingThatCannotWorkExits2NamingIt(t *testing.T) {
	const key = "qc_live_6f1d0c2b9e8a7f6e"
	for _, c := range []struct {
		args []string
		env  []string
		says string
	}{
		{[]string{"-no-such-flag"}, nil, "-no-such-flag"},
		{[]string{"extra"}, nil, `unexpected argument "extra"`},
		{nil, []string{"QC_FOLLOW", "maybe"}, "-follow (QC_FOLLOW)"},
		{nil, []string{"QC_DRAIN", "ten"}, "-drain (QC_DRAIN)"},
		{nil, []string{"QC_RENDER_TIMEOUT", "0"}, "-render-timeout (QC_RENDER_TIMEOUT)"},
		{nil, []string{"QC_ADDR", "8080"}, "-addr (QC_ADDR)"},
		{nil, []string{"QC_PREFIX", "quality"}, "-prefix (QC_PREFIX)"},
		{nil, []string{"QC_REDIS_URL", "redis://:" + key + "@127.0.0.1:6379/notadb"}, "-redis (QC_REDIS_URL)"},
		{nil, []string{"QC_REDIS_URL", "http://127.0.0.1:6379"}, "-redis (QC_REDIS_URL)"},
		{nil, []string{"QC_REDIS_CLUSTER", "yes please"}, "-redis-cluster"},
		{nil, []string{"QC_API_URL", "ftp://registry.example"}, "-api (QC_API_URL)"},
		{nil, []string{"QC_API_URL", "https://api.registry.example", "QC_VERIFY_HOST", "verify.registry.example"}, "no API key"},
		{nil, []string{"QC_API_URL", "https://api.registry.example", "QC_API_KEY", key}, "no verify host"},
		{nil, []string{"QC_REPORT_KEY", "short"}, "32 or more"},
		{[]string{"-api-key-file", "/nonexistent/key"}, nil, "-api-key-file"},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), c.args, envOf(c.env...), &bytes.Buffer{}, &stderr)
		out := stderr.String()
		if code != 2 || !strings.Contains(out, c.says) {
			t.Errorf("%v %v: exit %d, %q; want 2 naming %q", c.args, c.env, code, out, c.says)
		}
		if strings.Contains(out, key) {
			t.Errorf("%v %v: the secret is in the message: %q", c.args, c.env, out)
		}
		if strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("%v %v: more than one line: %q", c.args, c.env, out)
		}
	}
}

// Secrets come from the environment or from files, never from a flag.
func TestSecretsComeFromTheEnvironmentOrFiles(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("qc_from_file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reportKey := strings.Repeat("r", 40)
	cfg, err := parseConfig([]string{"-api-key-file", keyFile},
		envOf("QC_API_URL", "https://api.registry.example", "QC_VERIFY_HOST", "verify.registry.example", "QC_REPORT_KEY", reportKey), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.apiKey != "qc_from_file" || string(cfg.reportKey) != reportKey {
		t.Errorf("api key %q, report key %q", cfg.apiKey, cfg.reportKey)
	}
	cfg, err = parseConfig(nil, envOf("QC_API_URL", "https://api.registry.example", "QC_VERIFY_HOST", "v.example", "QC_API_KEY", "qc_env"), &bytes.Buffer{})
	if err != nil || cfg.apiKey != "qc_env" {
		t.Errorf("from QC_API_KEY: %v, %+v", err, cfg)
	}
	var usage bytes.Buffer
	parseConfig([]string{"-h"}, envOf(), &usage)
	if strings.Contains(usage.String(), "-api-key ") || !strings.Contains(usage.String(), "QC_API_KEY_FILE") {
		t.Errorf("the flags offer a key on the command line, or hide the file:\n%s", usage.String())
	}
}

// With no settings at all it runs on its embedded sandbox, and a flag
// wins over its variable.
func TestDefaultsAndPrecedence(t *testing.T) {
	cfg, err := parseConfig(nil, envOf(), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.apiURL != "" || cfg.addr != "localhost:8080" || cfg.prefix != "/quality/" || !cfg.follow || cfg.redis != nil {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg, err = parseConfig(nil, envOf("QC_REDIS_URL", "redis://:pw@127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002", "QC_REDIS_CLUSTER", "true"), &bytes.Buffer{})
	if err != nil || cfg.cluster == nil || len(cfg.cluster.Addrs) != 3 || !cfg.cluster.ContextTimeoutEnabled || cfg.redis != nil {
		t.Errorf("a cluster URL: %v %+v", err, cfg)
	}
	cfg, err = parseConfig(nil, envOf("QC_REDIS_URL", "rediss://redis.internal:6380/2"), &bytes.Buffer{})
	if err != nil || cfg.redis == nil || cfg.redis.DB != 2 || cfg.redis.TLSConfig == nil || !cfg.redis.ContextTimeoutEnabled {
		t.Errorf("a TLS URL: %v %+v", err, cfg)
	}
	cfg, err = parseConfig([]string{"-addr", "127.0.0.1:9000", "-prefix", "/qc"}, envOf("QC_ADDR", "127.0.0.1:7000"), &bytes.Buffer{})
	if err != nil || cfg.addr != "127.0.0.1:9000" || cfg.prefix != "/qc/" {
		t.Errorf("a flag over its variable: %v %+v", err, cfg)
	}
}
