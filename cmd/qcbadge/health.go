package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// Readiness answers from state, never by asking anyone while the probe
// waits: an orchestrator's probe has a timeout (1 s by default in the
// common ones), and a dependency that does not answer would otherwise
// hold every probe past it. The checks that need I/O (the registry,
// Redis) run in the background, started by the probes themselves when
// what they last found is older than checkEvery, so that an idle replica
// wakes for nothing and a fleet's probes spend at most one call to the
// registry per replica every checkEvery, however often they come.
const (
	checkEvery   = 5 * time.Second
	checkTimeout = 2 * time.Second // one check's longest wait, in the background
	redisTimeout = time.Second     // Redis answers in a millisecond or is not there
)

// check is one dependency's state, as /readyz reports it.
type check struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason"`
}

// readiness is /readyz's answer.
type readiness struct {
	Ready    bool  `json:"ready"`
	API      check `json:"api"`
	Redis    check `json:"redis"`
	Follower check `json:"follower"`
	Warm     check `json:"warm"`
	Log      check `json:"log"`
}

// probe is a check run in the background: what it last found, and when.
type probe struct {
	run     func(context.Context) check
	timeout time.Duration

	last    atomic.Pointer[found]
	running atomic.Bool
}

type found struct {
	check
	at time.Time
}

// health runs the background checks and keeps what they found.
type health struct {
	ctx    context.Context // ends with the service
	cancel context.CancelFunc
	wg     sync.WaitGroup
	api    probe
	redis  *probe // nil: no Redis
}

func newHealth(api func(context.Context) check, redis func(context.Context) check) *health {
	ctx, cancel := context.WithCancel(context.Background())
	h := &health{ctx: ctx, cancel: cancel, api: probe{run: api, timeout: checkTimeout}}
	if redis != nil {
		h.redis = &probe{run: redis, timeout: redisTimeout}
	}
	return h
}

// refresh starts the checks whose last finding is older than checkEvery
// (or that never ran) and are not running already; it does not wait for
// them.
func (h *health) refresh(now time.Time) {
	for _, p := range []*probe{&h.api, h.redis} {
		if p == nil {
			continue
		}
		if f := p.last.Load(); f != nil && now.Sub(f.at) < checkEvery {
			continue
		}
		if !p.running.CompareAndSwap(false, true) {
			continue
		}
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			defer p.running.Store(false)
			ctx, cancel := context.WithTimeout(h.ctx, p.timeout)
			c := p.run(ctx)
			cancel()
			if h.ctx.Err() == nil {
				p.last.Store(&found{check: c, at: time.Now()})
			}
		}()
	}
}

// state is what probe p last found.
func (p *probe) state() check {
	if f := p.last.Load(); f != nil {
		return f.check
	}
	return check{Reason: "not checked yet"}
}

// close stops the checks running and waits for them.
func (h *health) close() {
	h.cancel()
	h.wg.Wait()
}

// checkAPI asks the registry for its change feed's head.
func (s *service) checkAPI(ctx context.Context) check {
	_, err := s.api.Changes.Head(ctx)
	switch {
	case err == nil:
	case errors.Is(err, client.ErrUnauthorized):
		// It answers: the fix is the key (QC_API_KEY), not the network.
		return check{Reason: "the registry refuses the API key: " + errorLine(err)}
	case errors.Is(err, client.ErrRateLimited):
		// It answers, and the quota recovers by itself: a fleet taken out
		// of service for it would serve nothing, not even its cache.
		return check{OK: true, Reason: "answers, but its rate limit holds calls back"}
	default:
		return check{Reason: "unreachable: " + errorLine(err)}
	}
	return check{OK: true, Reason: "answers"}
}

// checkRedis pings Redis.
func (s *service) checkRedis(ctx context.Context) check {
	err := s.rdb.Ping(ctx).Err()
	switch {
	case err == nil:
		return check{OK: true, Reason: "answers"}
	case errors.Is(err, context.DeadlineExceeded):
		return check{Reason: "unreachable: no answer within " + redisTimeout.String()}
	}
	return check{Reason: "unreachable: " + errorLine(err)}
}
