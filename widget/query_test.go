package widget

import (
	"net/url"
	"testing"
)

// The badge endpoint reads its look from the raw query one parameter at
// a time; it must read what url.Values would.
func TestQueryReadsAsURLValues(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"", "locale=en", "locale=en&theme=dark&size=compact", "theme=dark&locale=zh-CN",
		"locale=en&locale=zh", "locale=", "locale", "&&locale=en&", "locale=en-%41U", "locale=en+US",
		"loc%61le=en", "locale=%zz&locale=en", "%zz=1&locale=en", "locale=en;theme=dark&size=full",
		"theme=dark;&locale=en", "locale=a=b", "=en&locale=en", "size=%20compact", "Locale=en",
	} {
		want, _ := url.ParseQuery(raw) // as url.URL.Query: what fails to parse is left out
		for _, key := range []string{"locale", "theme", "size", "", "%zz"} {
			if got, want := query(raw).Get(key), want.Get(key); got != want {
				t.Errorf("query(%q).Get(%q) = %q, want %q", raw, key, got, want)
			}
		}
	}
}
