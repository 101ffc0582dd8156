// Package redisstore is the cache's store on Redis, one server or a Redis
// Cluster, shared by every web server of a platform: the shared tier of a
// cache.Tiered store, and the fleet's lease for its one follower.
//
//	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
//	shared := redisstore.New(rdb, redisstore.WithPrefix("shop:"))
//	tiered, err := cache.NewTiered(cache.NewMemory(), shared)
//
// It lives apart from package cache so that a platform that caches in
// memory only does not compile the Redis client. See package cache for
// how the tiers keep freshness moving forward across the fleet.
package redisstore
