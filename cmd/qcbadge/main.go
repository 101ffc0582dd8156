// Command qcbadge is the SDK as a service, for platforms not written in
// Go: it serves the quality-commitment badges (one, or a listing page's
// at once), the consumer enquiry pages and the report form, keeps its
// cache current from the registry's change feed, and reports its health
// and metrics. A Java, PHP or Node platform runs it beside its web servers
// and calls it from its templates.
//
//	go run ./cmd/qcbadge                     # on an embedded sandbox, on localhost:8080
//	QC_API_URL=https://api.registry.example QC_API_KEY=… QC_VERIFY_HOST=verify.registry.example \
//	QC_REDIS_URL=redis://redis:6379/0 qcbadge -addr :8080
//
// Routes, under the prefix (default /quality/):
//
//	GET {prefix}badges?gtin=…&gtin=…         up to 100 badges at once: HTML and JSON-LD each, under one page budget
//	GET {prefix}badge/{gtin}.svg|.html|.json one badge
//	GET {prefix}…                             the enquiry pages and the report form
//	GET {prefix}openapi.yaml                  this service's OpenAPI document
//	GET {prefix}log/checkpoint                the registry's checkpoint the follower verified, cosigned
//	GET /healthz, /readyz, /metrics           liveness, readiness, Prometheus metrics
//
// Every flag also reads a QC_* environment variable (qcbadge -h lists
// them). The API key and the report key come from the environment or from
// files, never from a flag. A malformed setting exits 2 with one line
// naming it; so does a real registry (-api) that refuses the API key at
// start, unless -start-if-key-refused (QC_START_IF_KEY_REFUSED) says to
// start anyway, when /readyz fails naming the refused key until the
// registry accepts it. With Redis, the replicas share one cache and one follower
// (by a lease); Redis down at start is not fatal: qcbadge serves from
// memory and the registry, and says it is not ready. What a replica
// learns while Redis is unreachable reaches Redis once it answers; with
// -spill-dir (QC_SPILL_DIR), a directory of the replica's own, it is
// kept there meanwhile too, so that a restart does not forget it.
//
// The badge endpoints are public: a badge the cache cannot answer at once
// is looked up within limits per client address and overall, and is the
// neutral badge past them (the batch counts each such product). Behind a
// reverse proxy or a load balancer, -trusted-proxies (QC_TRUSTED_PROXIES)
// lists the proxies' networks as CIDRs: a request from one of them is
// counted by the client the proxy names in X-Forwarded-For (or in
// Forwarded, with -proxy-header Forwarded), read from the right, past
// the trusted proxies' own entries; the leftmost entries, which the
// client wrote, and the header of a peer not listed, are never read.
// Without it, every shopper behind the proxy shares the proxy's budget.
//
// With -layout FILE (QC_LAYOUT), the enquiry pages are the platform's
// own: FILE is an html/template of its page — header, footer, fonts — with
// {{block "content" .}}{{end}} where each page goes, and .Lang, .Title and
// .Head (the pages' stylesheet link) placed as the enquiry package's
// WithLayout says. qcbadge renders it once at start against a sample
// page; a layout that cannot be read, parsed or rendered exits 2 naming
// the file. The OpenAPI document it serves names its paths under -prefix.
//
// The follower audits the registry's log: it verifies each new signed
// checkpoint with the registry's keys (-log-keys FILE, QC_LOG_KEYS_FILE,
// pins them; the embedded sandbox's are pinned), proves it extends the
// last, compares it with the witnesses' (-log-witnesses, QC_LOG_WITNESSES:
// https URLs, http only to a loopback host), and publishes it to the fleet,
// cosigned with -log-cosign-key-file (QC_LOG_COSIGN_KEY_FILE, or
// QC_LOG_COSIGN_KEY), for {prefix}log/checkpoint to serve. A fork it finds
// is logged once as an ERROR and makes every replica not ready, and every
// badge neutral, until an operator who has looked into it clears it:
//
//	qcbadge clear-log-fork    # with the replicas' -redis (QC_REDIS_URL)
//
// says which fork it cleared, and every replica trusts the registry's
// answers again at once. Without Redis a fork lives in the replica's
// memory, and a restart clears it.
//
// A replica started with -warm FILE (QC_WARM_FILE), a file of the
// platform's hot GTINs one a line, looks them up at start — Redis first,
// then the registry at low priority, within the upstream limit — while
// it already serves, and /readyz says "warming" until it is done, so
// that a rollout sends it shoppers once their first views are warm.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run serves until ctx ends, and returns the process's exit status: 0
// after a clean shutdown, 1 when it could not serve, 2 for a setting that
// cannot work.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "clear-log-fork" {
		return clearLogFork(ctx, args[1:], env, stdout, stderr)
	}
	cfg, err := parseConfig(args, env, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "qcbadge:", err)
		return 2
	}
	if err := serve(ctx, cfg, stdout); err != nil {
		fmt.Fprintln(stderr, "qcbadge:", err)
		if errors.Is(err, errUsage) {
			// Found only once the stack was built: a layout that cannot
			// render a page, a registry that refuses the key.
			return 2
		}
		return 1
	}
	return 0
}
