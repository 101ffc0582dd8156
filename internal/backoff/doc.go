// Package backoff is the one wait between tries that every loop of the
// SDK uses: a capped exponential backoff with full jitter, and a sleep
// that ends with its context.
//
// The client's retries and change-feed follower, the cache's follower
// and the change-driven audit had grown their own few lines for both,
// with two kinds of jitter, several floors and caps, and sleeps that
// differed only in their names: one package lets a reader of one loop
// know them all.
//
// Full jitter — a uniformly random wait under the exponential ceiling —
// spreads many clients that failed together more widely than a wait of
// half the ceiling plus a random half, and so ends their contention
// sooner (Marc Brooker, "Exponential Backoff And Jitter", AWS
// Architecture Blog, 2015). A wait is never zero: a zero wait is a busy
// loop.
package backoff
