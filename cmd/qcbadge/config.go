package main

import (
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/mod/sumdb/note"

	"github.com/qualitycommit/qcsdk/client"
)

// config is what qcbadge runs with: flags, each with a QC_* environment
// variable behind it (a flag wins). Secrets come only from the
// environment or from files: a flag's value shows in ps.
type config struct {
	addr       string
	apiURL     string // "": the embedded sandbox
	apiKey     string
	redisURL   string                // "": memory only
	spillDir   string                // "": what Redis has not yet taken is kept in memory only
	redis      *redis.Options        // from redisURL, one server
	cluster    *redis.ClusterOptions // from redisURL, a Redis Cluster
	verifyHost string
	platform   string // "": no report form
	reportKey  []byte // nil: a random one (not shared across replicas)
	siteOrigin string
	prefix     string
	layoutFile string             // "": the enquiry pages stand alone
	layout     *template.Template // from layoutFile
	follow     bool
	// startRefused starts qcbadge even when the registry refuses its key
	// at start, which otherwise exits 2.
	startRefused bool
	drain        time.Duration
	render       time.Duration       // a page's budget for its badges
	proxies      *proxies            // nil: the client is the request's peer
	warm         []client.ProductKey // looked up at start; nil: none

	// The audit of the registry's log (cache.FollowOptions).
	logKeys      []client.LogKey // pinned; nil: the registry's /v1/keys (the embedded sandbox's own)
	logWitnesses []string        // URLs of other parties' checkpoints
	logCosigner  note.Signer     // nil: checkpoints published as the registry signed them
	// logEvery is the follower's LogEvery, for tests alone: 0 is the
	// default, and no setting offers it.
	logEvery time.Duration
}

// prefixPath is what a prefix may be: a path the routes' patterns and the
// OpenAPI document (a YAML key) take as written.
var prefixPath = regexp.MustCompile(`^/([A-Za-z0-9._~-]+/)*$`)

// errUsage is a configuration that cannot run: qcbadge exits 2, having
// said which setting is wrong in one line.
var errUsage = errors.New("usage")

// usageError names the setting at fault.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return errUsage }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// parseConfig reads the flags in args over the environment env.
func parseConfig(args []string, env func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("qcbadge", flag.ContinueOnError)
	// A mistake is said in one line (below); the usage is for -h.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	str := func(p *string, name, envName, def, help string) {
		v := env(envName)
		if v == "" {
			v = def
		}
		fs.StringVar(p, name, v, help+" ("+envName+")")
	}
	str(&c.addr, "addr", "QC_ADDR", "localhost:8080", "address to listen on")
	str(&c.apiURL, "api", "QC_API_URL", "", "base URL of the registry's API; empty: an embedded sandbox")
	str(&c.redisURL, "redis", "QC_REDIS_URL", "", "Redis URL (redis://host:port/0, rediss:// for TLS) shared by the replicas; empty: memory only")
	str(&c.spillDir, "spill-dir", "QC_SPILL_DIR", "", "directory (this replica's alone, mode 0700) where what Redis has not yet taken is kept across a restart; empty: memory only; used with -redis")
	str(&c.verifyHost, "verify-host", "QC_VERIFY_HOST", "", "host of the registry's record pages badges link to (required with -api)")
	str(&c.platform, "platform", "QC_PLATFORM_NAME", "", "how reports name the platform to the regulator; empty: no report form")
	str(&c.siteOrigin, "site-origin", "QC_SITE_ORIGIN", "", "the site's origin (https://shop.example) when a proxy terminates TLS")
	str(&c.prefix, "prefix", "QC_PREFIX", "/quality/", "path prefix the badges and enquiry pages are served under")
	str(&c.layoutFile, "layout", "QC_LAYOUT", "", `html/template file of the platform's page, with {{block "content" .}}{{end}} where each enquiry page goes and .Lang, .Title and .Head placed; empty: the enquiry pages stand alone`)
	var logKeysFile, witnesses, cosignKeyFile string
	str(&logKeysFile, "log-keys", "QC_LOG_KEYS_FILE", "", "file of the registry's log keys to pin, one note verifier key (name+hash+base64) a line; empty: read from the registry (/v1/keys), trusting TLS for them")
	str(&witnesses, "log-witnesses", "QC_LOG_WITNESSES", "", "comma-separated https URLs of witnesses' checkpoints of the registry's log (another platform's qcbadge {prefix}log/checkpoint), compared at each audit; empty: none")
	str(&cosignKeyFile, "log-cosign-key-file", "QC_LOG_COSIGN_KEY_FILE", "", "file holding the platform's note signer key (PRIVATE+KEY+name+hash+base64) that cosigns each checkpoint it verified, for others to witness (or set QC_LOG_COSIGN_KEY); empty: not cosigned")
	var keyFile, reportKeyFile, cluster, follow, drain, render, trusted, proxyHeader, warmFile string
	str(&trusted, "trusted-proxies", "QC_TRUSTED_PROXIES", "", "comma-separated CIDRs of the reverse proxies in front (10.0.0.0/8,fd00::/8): a request from one is limited by the client address the proxy header names; empty: by the peer's")
	str(&proxyHeader, "proxy-header", "QC_PROXY_HEADER", "X-Forwarded-For", "the header the trusted proxies name the client in: X-Forwarded-For or Forwarded (RFC 7239); the other is never read")
	str(&keyFile, "api-key-file", "QC_API_KEY_FILE", "", "file holding the API key (or set QC_API_KEY)")
	str(&reportKeyFile, "report-key-file", "QC_REPORT_KEY_FILE", "", "file holding the report form's key, 32 bytes or more, the same on every replica (or set QC_REPORT_KEY)")
	str(&cluster, "redis-cluster", "QC_REDIS_CLUSTER", "false", "the Redis URL names a Redis Cluster (redis://host:port?addr=host2:port...)")
	str(&follow, "follow", "QC_FOLLOW", "true", "follow the registry's change feed (one replica at a time, by a lease in Redis)")
	// A switch, given alone: -start-if-key-refused.
	startRefused := env("QC_START_IF_KEY_REFUSED")
	startRefusedOK := true
	if startRefused != "" {
		var perr error
		c.startRefused, perr = strconv.ParseBool(startRefused)
		startRefusedOK = perr == nil
	}
	fs.BoolVar(&c.startRefused, "start-if-key-refused", c.startRefused, "start even if the registry (-api) refuses the API key, which otherwise exits 2 at start; /readyz fails, naming the cause, until it accepts the key (QC_START_IF_KEY_REFUSED)")
	str(&drain, "drain", "QC_DRAIN", "10s", "how long shutdown waits for requests in flight")
	str(&warmFile, "warm", "QC_WARM_FILE", "", "file of GTINs, one a line, looked up at start (Redis first, then the registry at low priority) before /readyz says ready, so that the first page views are warm; empty: none")
	str(&render, "render-timeout", "QC_RENDER_TIMEOUT", "50ms", "a page's budget for its badges: past it a badge the cache cannot answer is the neutral one")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "usage: qcbadge [flags]; every flag also reads the QC_* variable named in its help")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return nil, err
		}
		return nil, usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}

	isCluster, err := strconv.ParseBool(cluster)
	if err != nil {
		return nil, usagef("-redis-cluster (QC_REDIS_CLUSTER): %q is not true or false", cluster)
	}
	if c.follow, err = strconv.ParseBool(follow); err != nil {
		return nil, usagef("-follow (QC_FOLLOW): %q is not true or false", follow)
	}
	if !startRefusedOK {
		return nil, usagef("-start-if-key-refused (QC_START_IF_KEY_REFUSED): %q is not true or false", startRefused)
	}
	if c.drain, err = time.ParseDuration(drain); err != nil || c.drain <= 0 {
		return nil, usagef("-drain (QC_DRAIN): %q is not a positive duration such as 10s", drain)
	}
	if c.render, err = time.ParseDuration(render); err != nil || c.render <= 0 {
		return nil, usagef("-render-timeout (QC_RENDER_TIMEOUT): %q is not a positive duration such as 50ms", render)
	}
	if c.proxies, err = parseProxies(trusted, proxyHeader); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return nil, usagef("-addr (QC_ADDR): %q is not host:port", c.addr)
	}
	if !strings.HasPrefix(c.prefix, "/") {
		return nil, usagef("-prefix (QC_PREFIX): %q does not start with /", c.prefix)
	}
	if !strings.HasSuffix(c.prefix, "/") {
		c.prefix += "/"
	}
	if !prefixPath.MatchString(c.prefix) {
		return nil, usagef("-prefix (QC_PREFIX): %q is not a plain path: segments of letters, digits, -, ., _ and ~", c.prefix)
	}
	if c.layoutFile != "" {
		if c.layout, err = readLayout(c.layoutFile); err != nil {
			return nil, err
		}
	}
	switch {
	case c.redisURL == "":
	case isCluster:
		if c.cluster, err = redis.ParseClusterURL(c.redisURL); err != nil {
			return nil, usagef("-redis (QC_REDIS_URL): not a Redis Cluster URL (redis://host:port?addr=host2:port): %v", redactURL(err, c.redisURL))
		}
		// Each operation's deadline reaches the socket, and a failover is
		// found within a second.
		c.cluster.ContextTimeoutEnabled, c.cluster.ClusterStateReloadInterval = true, time.Second
	default:
		if c.redis, err = redis.ParseURL(c.redisURL); err != nil {
			return nil, usagef("-redis (QC_REDIS_URL): not a redis://, rediss:// or unix:// URL: %v", redactURL(err, c.redisURL))
		}
		c.redis.ContextTimeoutEnabled = true
	}

	if c.apiKey, err = secret("-api-key-file", "QC_API_KEY", keyFile, env); err != nil {
		return nil, err
	}
	var rk string
	if rk, err = secret("-report-key-file", "QC_REPORT_KEY", reportKeyFile, env); err != nil {
		return nil, err
	}
	if rk != "" {
		if len(rk) < 32 {
			return nil, usagef("the report key (QC_REPORT_KEY or -report-key-file) is %d bytes; it needs 32 or more", len(rk))
		}
		c.reportKey = []byte(rk)
	}

	if logKeysFile != "" {
		if c.logKeys, err = readLogKeys(logKeysFile); err != nil {
			return nil, err
		}
	}
	if c.logWitnesses, err = parseWitnesses(witnesses); err != nil {
		return nil, err
	}
	var ck string
	if ck, err = secret("-log-cosign-key-file", "QC_LOG_COSIGN_KEY", cosignKeyFile, env); err != nil {
		return nil, err
	}
	if ck != "" {
		// note's errors do not quote the key, but nothing of it is said
		// here either: it is a secret.
		if c.logCosigner, err = note.NewSigner(ck); err != nil {
			return nil, usagef("the log cosigning key (QC_LOG_COSIGN_KEY or -log-cosign-key-file) is not a note signer key (PRIVATE+KEY+name+hash+base64)")
		}
	}

	if warmFile != "" {
		if c.warm, err = readWarmFile(warmFile); err != nil {
			return nil, err
		}
	}

	if c.apiURL != "" {
		if u, err := url.Parse(c.apiURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, usagef("-api (QC_API_URL): not an http(s) URL")
		}
		// A real registry: the mistakes that would otherwise show as
		// every badge unknown, or every badge without its link.
		if c.apiKey == "" {
			return nil, usagef("no API key for %s: set QC_API_KEY or -api-key-file", c.apiURL)
		}
		if c.verifyHost == "" {
			return nil, usagef("no verify host for %s: set -verify-host (QC_VERIFY_HOST) to the host of the registry's record pages", c.apiURL)
		}
	}
	return c, nil
}

// redactURL is a Redis URL's parse error without the URL's password,
// which go-redis's errors may quote.
func redactURL(err error, raw string) string {
	msg := err.Error()
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

// secret reads a secret from its file when one is named, else from the
// environment. Its value never appears in an error.
func secret(flagName, envName, file string, env func(string) string) (string, error) {
	if file == "" {
		return strings.TrimSpace(env(envName)), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", usagef("%s: %v", flagName, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// readLogKeys reads the registry's log keys to pin: a note verifier key
// a line; blank lines and lines starting with # are left out.
func readLogKeys(file string) ([]client.LogKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, usagef("-log-keys (QC_LOG_KEYS_FILE): %v", err)
	}
	var keys []client.LogKey
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if _, err := note.NewVerifier(line); err != nil {
			return nil, usagef("-log-keys (QC_LOG_KEYS_FILE) %s, line %d: not a note verifier key (name+hash+base64): %v", file, i+1, err)
		}
		keys = append(keys, client.LogKey{Key: line})
	}
	if len(keys) == 0 {
		return nil, usagef("-log-keys (QC_LOG_KEYS_FILE) %s holds no key", file)
	}
	return keys, nil
}

// parseWitnesses reads the witnesses' URLs: https, or http to a loopback
// host (a witness on the same machine), with no credentials in them,
// which the follower's logs would show.
func parseWitnesses(list string) ([]string, error) {
	var urls []string
	for i, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || u.Opaque != "" {
			return nil, usagef("-log-witnesses (QC_LOG_WITNESSES): witness %d is not a URL", i+1)
		}
		if u.User != nil {
			return nil, usagef("-log-witnesses (QC_LOG_WITNESSES): witness %d names a user in its URL; a witness's checkpoint is public", i+1)
		}
		if u.Scheme != "https" && (u.Scheme != "http" || !loopback(u.Hostname())) {
			return nil, usagef("-log-witnesses (QC_LOG_WITNESSES): witness %d (%s) is not an https URL (http only to a loopback host)", i+1, u.Redacted())
		}
		urls = append(urls, u.String())
	}
	return urls, nil
}

// loopback reports whether host is this machine: localhost, or a
// loopback address.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
