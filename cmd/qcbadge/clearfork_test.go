package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// An operator clears a fork of the registry's log with "qcbadge
// clear-log-fork" and the replicas' Redis: it names the fork it cleared,
// and the running replica is ready again and shows its badges, with no
// restart. Without Redis there is nothing to clear, and it says why.
func TestClearLogForkFromTheCommandLine(t *testing.T) {
	srv := redistest.Start(t)
	redisURL := "redis://" + srv.Addr() + "/0"
	_, hs := newTestService(t, "QC_REDIS_URL", redisURL)
	var committed client.GTIN
	for _, p := range demo(t) {
		if p.Verdict == client.VerdictCommitted {
			committed = p.GTIN
			break
		}
	}
	badge := hs.URL + "/quality/badge/" + string(committed) + ".json"
	readyIs := func(want bool) {
		t.Helper()
		for deadline := time.Now().Add(timescale.Scale(20 * time.Second)); ; {
			_, r, _ := readyzOnce(t, hs.URL)
			if r.Log.OK == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the log check still %+v 20 s on; want ok=%v", r.Log, want)
			}
			time.Sleep(20 * time.Millisecond) // polling for a state, not synchronising
		}
	}
	readyIs(true)

	// The follower's record of a fork, as it writes one.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	fleet, err := redisstore.New(rdb, redisstore.WithPrefix("qcbadge:"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Close() })
	ctx := context.Background()
	now := time.Now()
	if _, err := fleet.Set(ctx, cache.LogForkKey, &cache.Entry{Raw: []byte(`{"fork":"two roots for a tree of 42","size":42}`),
		Version: 1, Fetched: now, FreshUntil: now.Add(time.Hour), Expires: now.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := fleet.Publish(ctx, cache.LogForkKey); err != nil {
		t.Fatal(err)
	}
	readyIs(false)
	if _, _, body := fetch(t, badge); !strings.Contains(body, `"verdict":"unknown"`) {
		t.Fatalf("a badge during the fork: %s; want the neutral one", body)
	}

	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"clear-log-fork"}, envOf("QC_REDIS_URL", redisURL), &stdout, &stderr); code != 0 {
		t.Fatalf("clear-log-fork exited %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "two roots for a tree of 42") {
		t.Errorf("clear-log-fork says %q; want it to name the fork it cleared", stdout.String())
	}
	readyIs(true)
	if _, _, body := fetch(t, badge); !strings.Contains(body, `"verdict":"committed"`) {
		t.Errorf("a badge after the fork was cleared: %s; want committed", body)
	}

	stdout.Reset()
	if code := run(ctx, []string{"clear-log-fork"}, envOf("QC_REDIS_URL", redisURL), &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "nothing changed") {
		t.Errorf("clear-log-fork with no fork: exit %d, %q; want 0 and nothing changed", code, stdout.String())
	}
	stderr.Reset()
	if code := run(ctx, []string{"clear-log-fork"}, envOf(), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "restarting the replica") {
		t.Errorf("clear-log-fork without Redis: exit %d, %q; want 2 and what to do instead", code, stderr.String())
	}
}
