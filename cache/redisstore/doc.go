// Package redisstore is the cache's store on Redis, one server or a Redis
// Cluster, shared by every web server of a platform: the shared tier of a
// cache.Tiered store, and the fleet's lease for its one follower.
//
//	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
//	shared, err := redisstore.New(rdb, redisstore.WithPrefix("shop:"))
//	// …
//	mem, err := cache.NewMemory()
//	// …
//	tiered, err := cache.NewTiered(mem, shared)
//
// It lives apart from package cache so that a platform that caches in
// memory only does not compile the Redis client. See package cache for
// how the tiers keep freshness moving forward across the fleet.
//
// Its options follow package cache's conventions: New returns the first
// option's error, and a value out of range (an empty prefix, a timeout
// that is not positive) is an error, never the default in its place; a
// nil clock is time.Now and a nil logger logs nothing; a clock is a
// func() time.Time.
package redisstore
