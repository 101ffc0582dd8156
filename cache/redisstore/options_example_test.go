package redisstore_test

import (
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache/redisstore"
)

// New judges its options before it touches Redis: a value out of range is
// an error at start-up, never the default in its place.
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{Addr: "redis.internal:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()
	if _, err := redisstore.New(rdb, redisstore.WithTimeout(0)); err != nil {
		fmt.Println(err)
	}
	// Output:
	// qcsdk/cache/redisstore: timeout must be positive
}
