package cache_test

import (
	"log"
	"log/slog"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
)

// A server that must not forget, across a restart, what it learnt while
// Redis was unreachable spills it to a directory of its own. Under
// systemd, StateDirectory= makes one, mode 0700, and passes its path as
// $STATE_DIRECTORY; an empty directory name spills nothing.
func ExampleWithSpill() {
	rdb := redis.NewClient(&redis.Options{Addr: "redis.internal:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()
	shared, err := redisstore.New(rdb, redisstore.WithPrefix("qcsdk:"))
	if err != nil {
		log.Fatal(err)
	}
	defer shared.Close()
	mem, err := cache.NewMemory()
	if err != nil {
		log.Fatal(err)
	}
	defer mem.Close()
	tiered, err := cache.NewTiered(mem, shared,
		cache.WithSpill(os.Getenv("STATE_DIRECTORY")),
		cache.WithTieredLogger(slog.Default()))
	if err != nil {
		log.Fatal(err) // the directory cannot be made, or its file read
	}
	// Close writes what waits for Redis to the directory before the
	// process exits.
	defer tiered.Close()
}
