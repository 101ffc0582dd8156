// Package locale is the SDK's one reading of language tags: which of the
// languages the registry publishes (Simplified Chinese, its language of
// record, and English) a tag, a template word or a browser's
// Accept-Language asks for.
//
// It matches by BCP 47 with golang.org/x/text/language, so regional and
// script variants land where a reader expects: en-AU and en-GB are English;
// zh-Hans-CN and zh-SG are Simplified Chinese; zh-TW and zh-HK are too,
// until the registry publishes Traditional Chinese; a language the registry
// does not publish (fr) reads Chinese, the registry's own.
package locale

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/text/language"
)

// Tag is a language the registry publishes.
type Tag uint8

const (
	ZH Tag = iota // zh-CN, the registry's language of record and the default
	EN            // en
)

// String is the tag's BCP 47 form.
func (t Tag) String() string {
	if t == EN {
		return "en"
	}
	return "zh-CN"
}

// supported is in Tag order; the first is the matcher's fallback.
var supported = []language.Tag{language.MustParse("zh-CN"), language.English}

var (
	matcher = language.NewMatcher(supported)
	zh, _   = language.ParseBase("zh")
)

// ErrMalformed is wrapped by Parse's error for a string that is not a
// BCP 47 tag at all.
var ErrMalformed = errors.New("not a BCP 47 language tag")

// Parse reads a BCP 47 tag. A well-formed tag of a language the registry
// does not publish is ZH with no error; a malformed one is ZH and an error
// wrapping ErrMalformed.
func Parse(s string) (Tag, error) {
	if t, ok := common(s); ok {
		return t, nil
	}
	tag, err := language.Parse(strings.TrimSpace(s))
	if err != nil {
		return ZH, fmt.Errorf("locale %q: %w", truncate(s), ErrMalformed)
	}
	return match(tag), nil
}

// Of reads a tag as Parse does, malformed ones as ZH.
func Of(s string) Tag {
	t, _ := Parse(s)
	return t
}

// FromAcceptLanguage picks the language a browser prefers, by the weights
// of its Accept-Language header. A header naming nothing the registry
// publishes, or one that cannot be read, is ZH: a browser's header is not
// the shopper's fault.
func FromAcceptLanguage(header string) Tag {
	if t, ok := common(header); ok {
		return t
	}
	// Every badge image a browser loads sends its header, and a site's
	// shoppers send few distinct ones: each is matched once, then
	// remembered (bounded), so that the public badge endpoint does not
	// parse and allocate per request.
	seen.mu.RLock()
	t, ok := seen.m[header]
	seen.mu.RUnlock()
	if ok {
		return t
	}
	t = ZH
	if tags, _, err := language.ParseAcceptLanguage(header); err == nil && len(tags) > 0 {
		t = match(tags...)
	}
	if len(header) <= maxRemembered {
		seen.mu.Lock()
		if len(seen.m) >= maxHeaders {
			clear(seen.m)
		}
		seen.m[header] = t
		seen.mu.Unlock()
	}
	return t
}

// seen remembers the Accept-Language headers matched, up to maxHeaders of
// at most maxRemembered bytes each; past that it starts over.
var seen = struct {
	mu sync.RWMutex
	m  map[string]Tag
}{m: make(map[string]Tag)}

const (
	maxHeaders    = 1024
	maxRemembered = 256
)

// match is the supported language closest to the tags, ZH when none is
// close: the matcher itself falls back to English for some languages.
// Chinese in any script is zh-CN: the matcher would not count Traditional
// as close to Simplified, and would pass over zh-TW for a weaker en.
func match(tags ...language.Tag) Tag {
	for i, t := range tags {
		if b, _ := t.Base(); b == zh {
			tags[i] = supported[ZH]
		}
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return ZH
	}
	return Tag(i)
}

// common answers the tags nearly every call names without the matcher,
// which allocates: this runs on page views.
func common(s string) (Tag, bool) {
	switch s {
	case "en", "en-US", "en-GB", "EN":
		return EN, true
	case "zh-CN", "zh", "zh-Hans", "zh-Hans-CN", "zh-cn":
		return ZH, true
	}
	return ZH, false
}

// truncate keeps an error's echo of a caller's string short.
func truncate(s string) string {
	const max = 32
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
