package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/qualitycommit/qcsdk/internal/backoff"
)

// ChangesOptions say where to read the change feed from and how long to
// wait for a change.
type ChangesOptions struct {
	// After is a cursor from an earlier page (ChangePage.NextCursor) or
	// event (Event.Cursor); empty reads from the start of the feed, the
	// oldest event it retains. A cursor older than the feed's retention
	// window is rejected (see IsCursorRejected).
	After string
	// FromHead, with no After, asks for the feed's head instead of its
	// start: the API answers at once, whatever Wait says, with no events
	// and a NextCursor at the newest event, from which a later call reads
	// only events published since. With After it is invalid input.
	FromHead bool
	// Limit is the most events in one answer, 1 to 1,000; zero leaves the
	// choice to the API (100).
	Limit int
	// Wait is how long the API may hold the call when no event is past
	// After, at most 60 s, sent in whole seconds (rounded up). Zero
	// answers at once. The client's timeout is extended by it.
	Wait time.Duration
}

// Limits of the change feed's contract.
const (
	maxChangesLimit = 1000
	maxChangesWait  = 60 * time.Second
)

// List reads one page of the change feed. When no event is past
// opts.After, the API holds the call up to opts.Wait and then answers an
// empty page; either way ChangePage.NextCursor (also in
// Response.NextCursor) is where to read on from.
func (s *ChangesService) List(ctx context.Context, opts *ChangesOptions) (*ChangePage, *Response, error) {
	q := url.Values{}
	var wait time.Duration
	if opts != nil {
		if opts.Limit < 0 || opts.Limit > maxChangesLimit {
			return nil, nil, invalidInput("change feed limit %d is not in [0, %d]", opts.Limit, maxChangesLimit)
		}
		if opts.Wait < 0 || opts.Wait > maxChangesWait {
			return nil, nil, invalidInput("change feed wait %s is not in [0, %s]", opts.Wait, maxChangesWait)
		}
		if opts.FromHead && opts.After != "" {
			return nil, nil, invalidInput("change feed FromHead and After %q are exclusive: After already says where to read from", opts.After)
		}
		if opts.After != "" {
			q.Set("after", opts.After)
		}
		if opts.FromHead {
			q.Set("from", "head")
		}
		if opts.Limit > 0 {
			q.Set("limit", strconv.Itoa(opts.Limit))
		}
		if opts.Wait > 0 {
			// Rounded up, so that a short wait does not become none and
			// turn a long poll into a busy one.
			secs := int((opts.Wait + time.Second - 1) / time.Second)
			q.Set("wait", strconv.Itoa(secs)+"s")
			wait = time.Duration(secs) * time.Second
		}
	}
	page := new(ChangePage)
	resp, err := s.client.do(ctx, request{
		method: http.MethodGet, path: "/v1/changes", query: q, idempotent: true, longPoll: wait,
	}, page)
	if err != nil {
		return nil, resp, err
	}
	resp.NextCursor = page.NextCursor
	return page, resp, nil
}

// Head returns the cursor of the change feed's head, the newest event, at
// once: reading on from it with List or Follow returns only events
// published afterwards. It is where a consumer resumes after its cursor was
// rejected, once it has marked what it holds stale.
func (s *ChangesService) Head(ctx context.Context) (string, error) {
	page, resp, err := s.List(ctx, &ChangesOptions{FromHead: true})
	if err != nil {
		return "", err
	}
	// Events, or no cursor, mean the answer is not the head (a server that
	// ignores from would answer from the start): resuming from its cursor
	// would replay the feed, or restart it.
	if len(page.Data) != 0 || page.NextCursor == "" {
		return "", &DecodeError{Method: http.MethodGet, Path: "/v1/changes", StatusCode: resp.StatusCode,
			Err: fmt.Errorf("asked for the head, the answer has %d event(s) and next_cursor %.64q", len(page.Data), page.NextCursor)}
	}
	return page.NextCursor, nil
}

// IsCursorRejected reports whether err is the API refusing a cursor: one it
// did not issue, or one older than the change feed's retention window
// (an *APIError with Code CodeInvalidCursor). Retrying with the same cursor
// cannot succeed. A change-feed consumer then resynchronises: it marks
// everything it holds stale and reads on from Head.
func IsCursorRejected(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Code == CodeInvalidCursor
}

// FollowOptions tune Follow. The zero value is the defaults.
type FollowOptions struct {
	// Wait is how long each long poll may be held (default 30 s, at most
	// 60 s).
	Wait time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed poll: a
	// random duration up to MinBackoff doubled once per failure in a row,
	// capped at MaxBackoff (defaults 500 ms and 30 s), or longer when the
	// API asks to wait with Retry-After, up to MaxBackoff. A success
	// resets it.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// CaughtUp, if set, is called after each poll that reached the feed's
	// head — the page said there was no more — once its events were
	// yielded: the follower knows every change published before that
	// poll. A service reports itself ready by it.
	CaughtUp func()
}

// Defaults of FollowOptions.
const (
	DefaultFollowWait       = 30 * time.Second
	DefaultFollowMinBackoff = 500 * time.Millisecond
	DefaultFollowMaxBackoff = 30 * time.Second
)

// Follow iterates over the change feed from after (empty: from the start)
// for as long as the loop runs, long-polling for new events. Each event is
// yielded once, in feed order; a consumer that stores Event.Cursor after
// handling an event can resume from it after a restart without losing or
// repeating one.
//
// Follow does not give up. After any failed poll it yields the error
// (with a zero Event), waits with jittered exponential backoff and polls
// again from the last cursor, so a consumer may log errors and carry on.
// While the client is paused (see the package doc's Quota section) it
// waits the pause out rather than polling into it.
// An error that retrying cannot cure is the consumer's to break on: above
// all a rejected cursor (IsCursorRejected), one the API did not issue or
// one that fell off the feed's retention window while the consumer was
// away. Follow yields it like any error and polls the same cursor again,
// failing each time; the events past it are gone, so the consumer must
// break, mark what it holds stale, and follow again from Head.
//
// The iteration ends when the loop breaks, or when ctx is done: then it
// yields one error matching ctx.Err() and returns. Follow starts no
// goroutine.
func (s *ChangesService) Follow(ctx context.Context, after string, opts *FollowOptions) iter.Seq2[Event, error] {
	wait, minB, maxB := DefaultFollowWait, DefaultFollowMinBackoff, DefaultFollowMaxBackoff
	if opts != nil {
		if opts.Wait > 0 {
			wait = min(opts.Wait, maxChangesWait)
		}
		if opts.MinBackoff > 0 {
			minB = opts.MinBackoff
		}
		if opts.MaxBackoff > 0 {
			maxB = opts.MaxBackoff
		}
	}
	maxB = max(maxB, minB)
	waits := backoff.Exponential{Base: minB, Max: maxB}

	return func(yield func(Event, error) bool) {
		cursor, lastID := after, ""
		failures := 0
		// Until a poll first reaches the head, none is held: a follower
		// learns at once that it has caught up (CaughtUp), rather than a
		// long poll later.
		atHead := false
		for {
			if err := ctx.Err(); err != nil {
				yield(Event{}, fmt.Errorf("qcsdk: following the change feed: %w", err))
				return
			}
			start := time.Now()
			hold := wait
			if !atHead {
				hold = 0
			}
			page, _, err := s.List(ctx, &ChangesOptions{After: cursor, Wait: hold})
			if err != nil {
				if ctx.Err() != nil {
					continue // said once, at the top
				}
				if !yield(Event{}, err) {
					return
				}
				wait := max(waits.Wait(failures), min(retryAfter(err), maxB))
				if left, ok := pauseLeft(err); ok {
					wait = max(wait, left) // polling before the pause ends fails unsent
				}
				backoff.Sleep(ctx, wait)
				failures++
				continue
			}
			for _, ev := range page.Data {
				if ev.ID != "" && ev.ID == lastID {
					continue // delivery is at least once; the feed may repeat its boundary
				}
				if !yield(ev, nil) {
					return
				}
				lastID = ev.ID
				if ev.Cursor != "" {
					cursor = ev.Cursor
				}
			}
			if page.NextCursor != "" {
				cursor = page.NextCursor
			}
			failures = 0
			if !page.HasMore {
				atHead = true
				if opts != nil && opts.CaughtUp != nil {
					opts.CaughtUp()
				}
			}
			if hold > 0 && len(page.Data) == 0 && time.Since(start) < hold/2 {
				// Empty long before the wait was up: something on the way
				// does not hold long polls. Pace the polls rather than
				// spin, but no slower than after a first failure, since
				// the feed itself is answering.
				backoff.Sleep(ctx, waits.Wait(0))
			}
		}
	}
}

// retryAfter is how long the API asked to wait before the call that
// failed with err is tried again, or 0.
func retryAfter(err error) time.Duration {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return rl.RetryAfter
	}
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return ue.RetryAfter
	}
	var kr *KeyRefusedError
	if errors.As(err, &kr) {
		return kr.RetryAfter
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.RetryAfter
	}
	return 0
}

// pauseLeft is what is left of the client-wide pause that refused a call
// unsent, if err is such a refusal.
func pauseLeft(err error) (time.Duration, bool) {
	var rl *RateLimitError
	if errors.As(err, &rl) && rl.Err == nil && !rl.Throttled {
		return rl.RetryAfter, true
	}
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return ue.RetryAfter, true
	}
	// A refused key's cool-down holds every call back, the one that was
	// refused included.
	var kr *KeyRefusedError
	if errors.As(err, &kr) {
		return kr.RetryAfter, true
	}
	return 0, false
}
