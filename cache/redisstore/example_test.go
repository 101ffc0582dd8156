package redisstore_test

import (
	"context"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
)

// One web server of a fleet: its memory tier in front of the fleet's
// Redis, and its follower, of which one server's leads at a time. (It
// needs a Redis, so it is compiled, not run; package cache's fleet tests
// run the same setup against real redis-servers.)
func Example() {
	ctx := context.Background()
	api, err := client.New(client.WithBaseURL("https://api.registry.example"), client.WithAPIKey("…"))
	if err != nil {
		log.Fatal(err)
	}
	// ContextTimeoutEnabled lets each operation's deadline (100 ms by
	// default, WithTimeout) reach the socket.
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                      []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"},
		ContextTimeoutEnabled:      true,
		ClusterStateReloadInterval: time.Second,
	})
	defer rdb.Close()
	shared, err := redisstore.New(rdb, redisstore.WithPrefix("shop:"))
	if err != nil {
		log.Fatal(err)
	}
	mem, err := cache.NewMemory()
	if err != nil {
		log.Fatal(err)
	}
	tiered, err := cache.NewTiered(mem, shared)
	if err != nil {
		log.Fatal(err)
	}
	qc, err := cache.New(api, cache.WithStore(tiered))
	if err != nil {
		log.Fatal(err)
	}
	defer qc.Close()
	go func() {
		if err := cache.Follow(ctx, api, shared, nil); err != nil {
			log.Print(err)
		}
	}()
	// … widget.New(qc), and the platform's pages.
}
