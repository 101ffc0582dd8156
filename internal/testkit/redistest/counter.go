package redistest

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Counter is a go-redis hook that counts what a client sends: its round
// trips — a command alone, or a pipeline of any number of them — its
// scripts run (EVAL, EVALSHA: a store's writes), and its PUBLISH and
// SPUBLISH commands, the announcements of a write. A new
// connection's handshake (HELLO, then a pipeline of CLIENT SETINFO), which
// go-redis sends through the hooks too, is not counted.
type Counter struct {
	trips, scripts, publishes atomic.Int64
}

// Count adds a Counter to rdb and returns it.
func Count(rdb redis.UniversalClient) *Counter {
	c := new(Counter)
	rdb.AddHook(c)
	return c
}

// Trips is the round trips counted since the last Reset.
func (c *Counter) Trips() int64 { return c.trips.Load() }

// Scripts is the scripts run since the last Reset.
func (c *Counter) Scripts() int64 { return c.scripts.Load() }

// Publishes is the announcements counted since the last Reset.
func (c *Counter) Publishes() int64 { return c.publishes.Load() }

// Reset starts the counts again from zero.
func (c *Counter) Reset() {
	c.trips.Store(0)
	c.scripts.Store(0)
	c.publishes.Store(0)
}

func (c *Counter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *Counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() != "hello" {
			c.trips.Add(1)
			c.count(cmd)
		}
		return next(ctx, cmd)
	}
}

func (c *Counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() != "client" {
			c.trips.Add(1)
			for _, cmd := range cmds {
				c.count(cmd)
			}
		}
		return next(ctx, cmds)
	}
}

func (c *Counter) count(cmd redis.Cmder) {
	switch strings.ToLower(cmd.Name()) {
	case "publish", "spublish":
		c.publishes.Add(1)
	case "eval", "evalsha":
		c.scripts.Add(1)
	}
}
