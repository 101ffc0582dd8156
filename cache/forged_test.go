package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// Redis is shared by every web server and written by whoever can reach
// it. A value put there that is not the registry's answer for its key —
// a record rewritten (a revoked commitment shown as active) under a
// raised version so that it wins, another product's genuine status, a
// genuine status under a raised entry version, a status with its proof
// taken away — is never served: not by a server that reads it into a cold
// memory tier, not by one whose warm copy it was announced over, not by a
// cache over Redis alone. Each is counted as refused, the page gets the
// registry's answer instead, and the value is deleted from Redis, so that
// genuine answers are kept again.
func TestAForgedRedisValueIsNeverServed(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	registry := sandbox.NewServer(t, sandbox.WithRateLimit(0, 0))
	prefix := "test:" + t.Name() + ":"
	ctx := context.Background()
	newCache := func(store cache.Store) *cache.Cache {
		t.Helper()
		api, err := client.New(client.WithBaseURL(registry.URL), client.WithLogKeys(registry.LogKeys()...))
		if err != nil {
			t.Fatal(err)
		}
		c, err := cache.New(api, cache.WithStore(store))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var withdrawn, committed client.GTIN
	for _, d := range registry.Demo() {
		switch {
		case d.Verdict == client.VerdictWithdrawn && withdrawn == "":
			withdrawn = d.GTIN
		case d.Verdict == client.VerdictCommitted && committed == "":
			committed = d.GTIN
		}
	}
	first := newCache(newNode(t, newRedisClient(t, srv), prefix, nil, time.Second).t)
	genuine, err := statusByGTIN(first, ctx, withdrawn)
	if err != nil {
		t.Fatal(err)
	}
	other, err := statusByGTIN(first, ctx, committed)
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	// writer is whoever can reach Redis.
	writer := newRedisStore(t, newRedisClient(t, srv), nil)
	if v := client.Decide(genuine, time.Now(), 0).Verdict; v != client.VerdictWithdrawn {
		t.Fatalf("the genuine status shows %s; want withdrawn", v)
	}
	held, err := writer.Get(ctx, string(withdrawn))
	if err != nil || held == nil {
		t.Fatalf("Redis holds %+v, %v; want the genuine entry", held, err)
	}

	active := func(st *client.ProductStatus) *client.ProductStatus {
		cp := *st
		cm := *st.Commitment
		cm.Status, cm.StatusChangedAt = client.CommitmentActive, cm.EffectiveAt
		cp.Commitment = &cm
		return &cp
	}
	n := int64(0)
	for _, f := range []struct {
		name string
		st   func() *client.ProductStatus
	}{
		{"its commitment shown as active, its version raised", func() *client.ProductStatus {
			st := active(genuine)
			st.Version += 1000
			return st
		}},
		{"another product's genuine status", func() *client.ProductStatus {
			st := *other
			return &st
		}},
		{"a genuine status under a raised entry version", func() *client.ProductStatus {
			st := *genuine
			return &st
		}},
		{"its commitment shown as active, with no proof", func() *client.ProductStatus {
			st := active(genuine)
			st.Proof = nil
			return st
		}},
	} {
		for _, reader := range []string{"a cold server", "a cache over Redis alone", "a warm server"} {
			var c *cache.Cache
			var done func()
			var node *node
			switch reader {
			case "a cache over Redis alone":
				c = newCache(newRedisStore(t, newRedisClient(t, srv), nil))
				done = func() { c.Close() }
			default:
				node = newNode(t, newRedisClient(t, srv), prefix, nil, time.Second)
				c = newCache(node.t)
				done = func() { c.Close(); node.t.Close() }
			}
			if reader == "a warm server" {
				if _, err := statusByGTIN(c, ctx, withdrawn); err != nil {
					t.Fatal(err)
				}
			}
			// Each forgery is written with an entry version and position
			// past everything before it, so that Redis keeps it.
			n++
			forged := *held
			forged.Status = f.st()
			forged.Version, forged.AsOf = held.Version+n*10000, held.AsOf+n*10000
			forged.FreshUntil, forged.Expires = time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)
			if won, err := writer.Set(ctx, string(withdrawn), &forged); err != nil || won != &forged {
				t.Fatalf("%s: Redis did not keep the forgery: %+v, %v", f.name, won, err)
			}
			if err := writer.Publish(ctx, string(withdrawn)); err != nil {
				t.Fatal(err)
			}
			if reader == "a warm server" {
				// The announcement reaches the server when Redis delivers
				// it: until then its copy is the one it verified.
				for deadline := time.Now().Add(timescale.Scale(10 * time.Second)); ; {
					if _, _, ok := cache.ReadLocal(node.t, string(withdrawn)); !ok {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: the warm server never heard of the write", f.name)
					}
					time.Sleep(time.Millisecond)
				}
			}
			st, err := statusByGTIN(c, ctx, withdrawn)
			if err != nil {
				t.Errorf("%s, %s: %v; want the registry's answer", f.name, reader, err)
			} else if v := client.Decide(st, time.Now(), 0).Verdict; v != client.VerdictWithdrawn || st.Key.GTIN != withdrawn {
				t.Errorf("%s, %s: served %s for %s; want withdrawn for %s", f.name, reader, v, st.Key.GTIN, withdrawn)
			}
			if s := c.Stats(); s.Refused == 0 {
				t.Errorf("%s, %s: nothing counted as refused: %+v", f.name, reader, s)
			}
			if node != nil && node.t.Stats().Refused == 0 {
				t.Errorf("%s, %s: the tiered store counted no refusal", f.name, reader)
			}
			// The reader deletes the forgery in the background.
			for deadline := time.Now().Add(timescale.Scale(10 * time.Second)); ; {
				e, err := writer.Get(ctx, string(withdrawn))
				if err == nil && (e == nil || e.Version != forged.Version) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s, %s: Redis still holds the forgery 10 s after it was refused: %+v, %v", f.name, reader, e, err)
				}
				time.Sleep(time.Millisecond)
			}
			done()
		}
	}
}
