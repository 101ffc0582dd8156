package main

import (
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

// A status put into qcbadge's Redis by anyone who reaches it — here a
// withdrawn product's, its commitment shown as active and its version
// raised so that it wins — never reaches a badge: the badge stays
// withdrawn, and the refusal shows in qcbadge_cache_refused_total and
// qcbadge_log_refused_total{cause="proof"}.
func TestAForgedRedisValueNeverReachesABadge(t *testing.T) {
	srv := redistest.Start(t)
	_, hs := newTestService(t, "QC_REDIS_URL", "redis://"+srv.Addr()+"/0")
	var withdrawn client.GTIN
	for _, p := range demo(t) {
		if p.Verdict == client.VerdictWithdrawn {
			withdrawn = p.GTIN
			break
		}
	}
	badge := hs.URL + "/quality/badge/" + string(withdrawn) + ".json"
	if _, _, body := fetch(t, badge); !strings.Contains(body, `"verdict":"withdrawn"`) {
		t.Fatalf("the withdrawn product's badge: %s", body)
	}

	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	attacker, err := redisstore.New(rdb, redisstore.WithPrefix("qcbadge:"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { attacker.Close() })
	ctx := context.Background()
	// qcbadge writes what it learnt through to Redis in the background.
	var e *cache.Entry
	for deadline := time.Now().Add(timescale.Scale(10 * time.Second)); ; {
		var err error
		e, err = attacker.Get(ctx, string(withdrawn))
		if err == nil && e != nil && e.Status != nil && e.Status.Commitment != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("qcbadge's Redis holds %+v, %v for the product 10 s on; want its status", e, err)
		}
		time.Sleep(5 * time.Millisecond) // polling for a state, not synchronising
	}
	st := *e.Status
	cm := *st.Commitment
	cm.Status = client.CommitmentActive
	st.Commitment, st.Version = &cm, st.Version+1000
	forged := *e
	forged.Status, forged.Version, forged.AsOf = &st, st.Version, e.AsOf+1000
	forged.FreshUntil, forged.Expires = time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)
	if won, err := attacker.Set(ctx, string(withdrawn), &forged); err != nil || won != &forged {
		t.Fatalf("Redis did not keep the forgery: %v", err)
	}
	if err := attacker.Publish(ctx, string(withdrawn)); err != nil {
		t.Fatal(err)
	}
	// The announcement reaches qcbadge when Redis delivers it; each badge
	// until the refusal shows is checked all the same.
	m := until(t, hs, "the forgery refused", func(m scrape) bool {
		if _, _, body := fetch(t, badge); !strings.Contains(body, `"verdict":"withdrawn"`) {
			t.Fatalf("a badge with the forgery in Redis: %s; want withdrawn", body)
		}
		return m["qcbadge_cache_refused_total"] > 0
	})
	if got := m[`qcbadge_log_refused_total{cause="proof"}`]; got < 1 {
		t.Errorf("qcbadge_log_refused_total{cause=\"proof\"} = %v; want at least 1", got)
	}
}
