package client

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinel errors. Every error the client returns for an API answer or a
// failure to get one matches at most one of these with errors.Is, so a
// caller can branch without knowing the concrete type.
var (
	ErrNotFound     = errors.New("qcsdk: not found")
	ErrRateLimited  = errors.New("qcsdk: rate limited")
	ErrUnauthorized = errors.New("qcsdk: unauthorized")
	ErrInvalidInput = errors.New("qcsdk: invalid input")
	ErrUnavailable  = errors.New("qcsdk: service unavailable")
)

// APIError is an error answer from the API: its status and the RFC 9457
// problem document it carried. It matches the sentinel for its status with
// errors.Is: ErrNotFound for 404, ErrUnauthorized for 401 and 403,
// ErrRateLimited for 429, ErrInvalidInput for other 4xx, ErrUnavailable for
// 5xx.
type APIError struct {
	Method     string // "GET"
	Path       string // the request's path, without the query
	StatusCode int
	Code       string // the problem's stable code, e.g. "invalid_gtin"
	Title      string
	Detail     string
	Fields     []ProblemField
	RequestID  string
	RetryAfter time.Duration // from Retry-After, when the answer had one
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("qcsdk: %s %s: %d", e.Method, e.Path, e.StatusCode)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	} else if e.Title != "" {
		msg += ": " + e.Title
	}
	if e.RequestID != "" {
		msg += " (request " + e.RequestID + ")"
	}
	return msg
}

// Is matches the sentinel for the error's status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrInvalidInput:
		return e.StatusCode >= 400 && e.StatusCode < 500 && e.StatusCode != http.StatusNotFound &&
			e.StatusCode != http.StatusUnauthorized && e.StatusCode != http.StatusForbidden &&
			e.StatusCode != http.StatusTooManyRequests
	case ErrUnavailable:
		return e.StatusCode >= 500
	}
	return false
}

// RateLimitError is a 429 from the API, or a call the client did not
// send: because the client is paused (the API answered 429, or said the
// quota was spent until a time still to come), or because its upstream
// limiter had no token for it (Throttled). It unwraps to the *APIError
// when there was an answer.
type RateLimitError struct {
	Err   *APIError // nil when the client failed fast without sending
	Limit RateLimit // the API's latest account of the limit
	// RetryAfter is how long until a call may be sent: the pause left, or
	// the wait for a token. Zero when nobody said.
	RetryAfter time.Duration
	// Throttled is set when the client's upstream limiter refused the
	// call, not the API; Priority is the call's.
	Throttled bool
	Priority  Priority
	// lookups: refused by the report look-ups' own pause, not the client's.
	lookups bool
}

func (e *RateLimitError) Error() string {
	switch {
	case e.Err != nil:
		return e.Err.Error()
	case e.Throttled:
		return fmt.Sprintf("qcsdk: upstream limit reached for a %s-priority call; not sent, a token in %s", e.Priority, e.RetryAfter.Round(time.Millisecond))
	case e.lookups:
		return fmt.Sprintf("qcsdk: report look-ups rate limited by the API; not sent, retry after %s", e.RetryAfter.Round(time.Millisecond))
	}
	return fmt.Sprintf("qcsdk: rate limited by the API (%d of %d left); client paused, not sent, retry after %s", e.Limit.Remaining, e.Limit.Limit, e.RetryAfter.Round(time.Millisecond))
}

// Unwrap returns the API's answer, if there was one.
func (e *RateLimitError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// Is matches ErrRateLimited, whether or not the request was sent.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// UnavailableError is a call the client did not send because the API
// answered 503 with a Retry-After that has not run out: the whole client
// is paused until Until (see WithMaxPause). It matches ErrUnavailable.
type UnavailableError struct {
	Until      time.Time     // by the client's clock
	RetryAfter time.Duration // how long is left
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("qcsdk: the API said it is unavailable; client paused, not sent, retry after %s", e.RetryAfter.Round(time.Millisecond))
}

// Is matches ErrUnavailable.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// KeyRefusedError is a 401 or 403 from the API, which refuses the
// client's API key (unknown, revoked, lacking a scope) or its lack of one;
// or a call the client held back, unsent, because the API refused the key
// within the cool-down before it (see DefaultKeyRefusedPause). It matches
// ErrUnauthorized, and unwraps to the *APIError when there was an answer.
type KeyRefusedError struct {
	Err *APIError // the answer; nil when the call was held back
	// StatusCode and Code are the refusal's: the answer's, or that of the
	// refusal that began the cool-down.
	StatusCode int
	Code       string
	// RetryAfter is what is left of the cool-down: no call is sent before.
	RetryAfter time.Duration
	// NoKey is set when the client has no key at all (see WithAPIKey).
	NoKey bool
}

func (e *KeyRefusedError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	what := "the API refused the key"
	if e.NoKey {
		what = "the API refused a call without a key (WithAPIKey)"
	}
	return fmt.Sprintf("qcsdk: %s (%d %s); calls held back, not sent, retry after %s", what, e.StatusCode, e.Code, e.RetryAfter.Round(time.Millisecond))
}

// Unwrap returns the API's answer, if there was one.
func (e *KeyRefusedError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// Is matches ErrUnauthorized, whether or not the call was sent.
func (e *KeyRefusedError) Is(target error) bool { return target == ErrUnauthorized }

// transportError is a failure to get any answer: a refused or reset
// connection, a timeout of one attempt, a TLS failure. It matches
// ErrUnavailable, which is all a caller does with it; the message says the
// rest.
type transportError struct {
	Method, Path string
	Attempts     int
	Err          error
}

func (e *transportError) Error() string {
	return fmt.Sprintf("qcsdk: %s %s: no answer after %d attempt(s): %v", e.Method, e.Path, e.Attempts, e.Err)
}

func (e *transportError) Unwrap() error        { return e.Err }
func (e *transportError) Is(target error) bool { return target == ErrUnavailable }

// DecodeError is a 2xx answer whose body is not the JSON the route
// promises. Snippet holds the start of the body, at most 64 bytes, quoted
// when printed.
type DecodeError struct {
	Method, Path string
	StatusCode   int
	Snippet      string
	Err          error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("qcsdk: %s %s: %d answer is not valid JSON for this route: %v (body starts %q)", e.Method, e.Path, e.StatusCode, e.Err, e.Snippet)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Is matches ErrUnavailable: an answer of the wrong shape is a failure of
// the API, and a caller should serve what it has, as for no answer.
func (e *DecodeError) Is(target error) bool { return target == ErrUnavailable }

// tooLargeError is an answer whose body is larger than the client's
// maximum response size (see WithMaxResponseSize). The body is not read
// past the limit.
type tooLargeError struct {
	Method, Path string
	Limit        int64
}

// Is matches ErrUnavailable, as a DecodeError does.
func (e *tooLargeError) Is(target error) bool { return target == ErrUnavailable }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("qcsdk: %s %s: answer is larger than the %d-byte limit", e.Method, e.Path, e.Limit)
}

// truncatedError is an answer whose body ended before its announced length
// or before its JSON did: the connection broke mid-answer.
type truncatedError struct {
	Method, Path string
	Read         int64 // bytes received
	Err          error
}

func (e *truncatedError) Error() string {
	return fmt.Sprintf("qcsdk: %s %s: answer cut off after %d bytes: %v", e.Method, e.Path, e.Read, e.Err)
}

func (e *truncatedError) Unwrap() error { return e.Err }

// Is matches ErrUnavailable: a cut answer is a failure to get one.
func (e *truncatedError) Is(target error) bool { return target == ErrUnavailable }

// Why a call that failed was not retried: one of these is wrapped into
// its error, next to what the last attempt got.
var (
	// ErrRetryBudget: the client's retry budget was spent; the API has
	// been failing too often for retries to help.
	ErrRetryBudget = errors.New("qcsdk: retry budget spent, not retrying")
	// ErrDeadlineTooClose: the wait before the next attempt would pass the
	// context's deadline, so the call gave up at once instead of sleeping
	// to the deadline.
	ErrDeadlineTooClose = errors.New("qcsdk: the next retry would pass the deadline, not retrying")
	// ErrRetryAfterTooLong: the API asked to wait longer than the retry
	// policy's MaxRetryAfter.
	ErrRetryAfterTooLong = errors.New("qcsdk: Retry-After exceeds the policy's maximum, not retrying")
	// ErrRetryThrottled: the upstream limiter had no token for the retry;
	// a low-priority call found none to spare.
	ErrRetryThrottled = errors.New("qcsdk: no upstream token for a retry, not retrying")
	// ErrCannotSucceed: the call got no answer and another attempt cannot
	// get one: the server's certificate could not be verified, the URL's
	// scheme is not supported, the redirects looped, a header was invalid,
	// or the API's host name does not exist.
	ErrCannotSucceed = errors.New("qcsdk: the call cannot succeed as sent, not retrying")
)
