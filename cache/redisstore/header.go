package redisstore

import (
	"strconv"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
)

// An entry's value in Redis is a fixed-width header and then the entry's
// JSON (see redisEntry). The header holds what the write script orders
// entries by, so that Lua compares them as strings without decoding JSON,
// and what a reader needs before the JSON:
//
//	[0]      'q', the layout's mark (a value without it is not an entry of
//	         this layout, and is replaced by the next write)
//	[1:13]   AsOf, the registry position the entry reflects
//	[13]     '1' an answer, '0' a tombstone
//	[14:26]  Version
//	[26:42]  FreshUntil, Unix ns
//	[42:58]  Expires, Unix ns
//	[58:74]  Fetched, Unix ns
//
// positions as position12 writes them, times as ordered does. [0:42] is
// the order key: one entry is newer than another exactly when its key is
// the greater string, which is cache.Entry.Replaces — the registry's
// position first, then an answer over a tombstone, then the version, then
// a renewed local TTL. One string keeps an entry in one allocation in
// Redis; a hash of long values would cost a dictionary per entry.
const (
	hdrMark    = 'q'
	hdrAsOf    = 1
	hdrKind    = 13
	hdrVersion = 14
	hdrFresh   = 26
	hdrExpires = 42
	hdrFetched = 58
	hdrLen     = 74
	orderLen   = hdrExpires // the order key: [0:orderLen]
)

// position12 encodes a registry position as 12 lowercase hex digits, so
// that Lua compares positions as strings: 48 bits, some 280 trillion
// changes, clamped at both ends. A position past that (only a value no
// registry wrote can claim one) stays the greatest, and is refused as
// beyond the head like any other.
func position12(n int64) string {
	const digits = "0123456789abcdef"
	u := uint64(max(n, 0))
	if u >= 1<<48 {
		u = 1<<48 - 1
	}
	var b [12]byte
	for i := 11; i >= 0; i-- {
		b[i] = digits[u&15]
		u >>= 4
	}
	return string(b[:])
}

// unposition12 reads back what position12 wrote.
func unposition12(s string) (int64, bool) {
	if len(s) != 12 {
		return 0, false
	}
	u, err := strconv.ParseUint(s, 16, 64)
	return int64(u), err == nil
}

// ordered encodes an int64 as 16 lowercase hex digits whose byte order is
// the numbers' order (the sign bit flipped), so that the Lua scripts,
// whose numbers are doubles, compare positions and nanosecond times
// exactly, as strings.
func ordered(n int64) string {
	const digits = "0123456789abcdef"
	u := uint64(n) ^ 1<<63
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[u&15]
		u >>= 4
	}
	return string(b[:])
}

// unordered reads back a number that ordered wrote.
func unordered(s string) (int64, bool) {
	if len(s) != 16 {
		return 0, false
	}
	u, err := strconv.ParseUint(s, 16, 64)
	return int64(u ^ 1<<63), err == nil
}

func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return -1 << 63
	}
	return t.UnixNano()
}

func fromUnixNanos(n int64) time.Time {
	if n == -1<<63 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// header is the fixed-width start of an entry's value.
func header(e *cache.Entry) string {
	kind := "1"
	if e.Tombstone() {
		kind = "0"
	}
	return string(hdrMark) + position12(e.AsOf) + kind + position12(e.Version) +
		ordered(unixNanos(e.FreshUntil)) + ordered(unixNanos(e.Expires)) + ordered(unixNanos(e.Fetched))
}

// head is what a value's header says, and the JSON after it.
type head struct {
	asOf, version           int64
	fresh, expires, fetched time.Time
	tombstone               bool
	body                    []byte
}

// split reads a value's header.
func split(val string) (head, bool) {
	if len(val) < hdrLen || val[0] != hdrMark {
		return head{}, false
	}
	var h head
	var ok [5]bool
	h.asOf, ok[0] = unposition12(val[hdrAsOf:hdrKind])
	h.version, ok[1] = unposition12(val[hdrVersion:hdrFresh])
	fresh, ok2 := unordered(val[hdrFresh:hdrExpires])
	exp, ok3 := unordered(val[hdrExpires:hdrFetched])
	fetched, ok4 := unordered(val[hdrFetched:hdrLen])
	ok[2], ok[3], ok[4] = ok2, ok3, ok4
	for _, o := range ok {
		if !o {
			return head{}, false
		}
	}
	switch val[hdrKind] {
	case '0':
		h.tombstone = true
	case '1':
	default:
		return head{}, false
	}
	h.fresh, h.expires, h.fetched = fromUnixNanos(fresh), fromUnixNanos(exp), fromUnixNanos(fetched)
	h.body = []byte(val[hdrLen:])
	return h, true
}
