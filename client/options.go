package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// GetOptions are the options of a call that reads one record.
type GetOptions struct {
	// ETag is the ETag of the copy the caller already holds, sent as
	// If-None-Match. When the record has not changed since, the API answers
	// 304 without a body: the call returns a nil model, a nil error and
	// Response.NotModified, so a cache can keep its copy for free.
	ETag string
}

// ListOptions are the paging options every list takes.
type ListOptions struct {
	// Limit is the most items on one page, 1 to 100; zero leaves the
	// choice to the API (20).
	Limit int
	// Cursor is the NextCursor of an earlier page, or empty for
	// the first page. A cursor is bound to the list and filters it was
	// issued for; with others the API answers 400 invalid_cursor.
	Cursor string
}

// maxListLimit is the contract's largest page.
const maxListLimit = 100

// inputError is the error for a malformed argument caught before any
// request is sent. It matches ErrInvalidInput, the sentinel an API 400
// matches too, so a caller branches the same way whichever side noticed.
type inputError struct{ msg string }

func (e *inputError) Error() string        { return "qcsdk: " + e.msg }
func (e *inputError) Is(target error) bool { return target == ErrInvalidInput }

func invalidInput(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

// query adds the paging options to q, checking them first: a limit the
// API would refuse costs a round trip for nothing.
func (o *ListOptions) query(q url.Values) error {
	if o == nil {
		return nil
	}
	if o.Limit < 0 || o.Limit > maxListLimit {
		return invalidInput("list limit %d is not in [0, %d]", o.Limit, maxListLimit)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	return nil
}

// etag is the If-None-Match of o, which may be nil. A value that cannot
// travel in a header is refused here, not by net/http, whose error the
// retry policy would take for a network failure and retry.
func (o *GetOptions) etag() (string, error) {
	if o == nil || o.ETag == "" {
		return "", nil
	}
	for i := 0; i < len(o.ETag); i++ {
		if c := o.ETag[i]; c < 0x20 || c == 0x7f {
			return "", invalidInput("ETag %q holds a control character", cut(o.ETag))
		}
	}
	return o.ETag, nil
}

// getRecord reads one record, answering a nil model on 304.
func getRecord[T any](ctx context.Context, c *Client, path string, q url.Values, opts *GetOptions) (*T, *Response, error) {
	etag, err := opts.etag()
	if err != nil {
		return nil, nil, err
	}
	out := new(T)
	resp, err := c.do(ctx, request{method: http.MethodGet, path: path, query: q, etag: etag, idempotent: true}, out)
	if err != nil {
		return nil, resp, err
	}
	if resp.NotModified {
		return nil, resp, nil
	}
	return out, resp, nil
}

// getPage reads one page of a list. The cursor is copied into the
// Response as well, where every call's metadata is.
func getPage[T any](ctx context.Context, c *Client, path string, q url.Values) (List[T], *Response, error) {
	var page List[T]
	resp, err := c.do(ctx, request{method: http.MethodGet, path: path, query: q, idempotent: true}, &page)
	if err != nil {
		return List[T]{}, resp, err
	}
	resp.NextCursor = page.NextCursor
	return page, resp, nil
}

// errCursorStuck is the error of an iterator whose next page would be the
// page it just read: following the cursor again would loop forever.
var errCursorStuck = errors.New("qcsdk: the API answered the same cursor again; stopping the iteration")

// paginate turns a page fetcher into an iterator over the items of every
// page from cursor on. It fetches a page only when the consumer asks for
// an item past the ones already read, so breaking out of the loop never
// costs a request. An error is yielded once, with the zero T, and ends
// the iteration: the caller can resume from the last List.NextCursor it
// saw through List.
func paginate[T any](cursor string, fetch func(cursor string) (List[T], *Response, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		for {
			page, _, err := fetch(cursor)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, it := range page.Data {
				if !yield(it, nil) {
					return
				}
			}
			if page.NextCursor == "" {
				return
			}
			if page.NextCursor == cursor {
				yield(zero, errCursorStuck)
				return
			}
			cursor = page.NextCursor
		}
	}
}

// checkID checks a record id against the contract's pattern for its kind:
// the prefix, then 1 to 64 of [0-9A-Za-z_-]. An id of the wrong kind or
// shape is a caller's mistake the API would answer 400 to; refusing it
// here saves the round trip and keeps stray slashes and dots out of paths.
func checkID(kind, prefix, id string) error {
	rest, ok := strings.CutPrefix(id, prefix)
	valid := ok && len(rest) > 0 && len(rest) <= 64
	for i := 0; valid && i < len(rest); i++ {
		c := rest[i]
		valid = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
	}
	if !valid {
		return invalidInput("%s id %q is not %s followed by 1 to 64 letters, digits, _ or -", kind, cut(id), prefix)
	}
	return nil
}

// enterpriseRef checks how a caller names an enterprise: its registry id
// (ent_…) or its USCC, which is validated, check character included, and
// returned in canonical form. A malformed USCC is an *IDError. The result
// is not escaped: it goes into paths and queries alike.
func enterpriseRef(ref string) (string, error) {
	if strings.HasPrefix(ref, "ent_") {
		if err := checkID("enterprise", "ent_", ref); err != nil {
			return "", err
		}
		return ref, nil
	}
	u, err := ParseUSCC(ref)
	if err != nil {
		return "", err
	}
	return string(u), nil
}

// checkText checks a free-text argument against the contract's bounds.
func checkText(field, v string, minRunes, maxRunes int) error {
	if msg := textProblem(field, v, minRunes, maxRunes); msg != "" {
		return invalidInput("%s", msg)
	}
	return nil
}

// textProblem says what is wrong with a free-text argument, or "".
func textProblem(field, v string, minRunes, maxRunes int) string {
	if !utf8.ValidString(v) {
		return field + " is not valid UTF-8"
	}
	switch n := utf8.RuneCountInString(v); {
	case n < minRunes && minRunes == 1:
		return field + " is empty"
	case n < minRunes:
		return fmt.Sprintf("%s is shorter than %d characters", field, minRunes)
	case n > maxRunes:
		return fmt.Sprintf("%s is longer than %d characters", field, maxRunes)
	}
	return ""
}
