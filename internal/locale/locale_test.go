package locale

import (
	"errors"
	"testing"
)

func TestParseMatchesByBCP47(t *testing.T) {
	for in, want := range map[string]Tag{
		"en": EN, "EN": EN, "en-US": EN, "en-AU": EN, "en-GB": EN, "en-Latn-IN": EN, " en-au ": EN,
		"zh": ZH, "zh-CN": ZH, "zh-cn": ZH, "zh-Hans": ZH, "zh-Hans-CN": ZH, "zh-SG": ZH,
		"zh-TW": ZH, "zh-HK": ZH, "zh-Hant": ZH,
		"fr": ZH, "fr-CA": ZH, "ja": ZH, "und": ZH,
	} {
		got, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
		}
		if got != want {
			t.Errorf("Parse(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestParseRefusesWhatIsNotATag(t *testing.T) {
	for _, in := range []string{"", "darkk-", "en_AU!", "<script>", "e", "123456789-x"} {
		got, err := Parse(in)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) error = %v, want ErrMalformed", in, err)
		}
		if got != ZH {
			t.Errorf("Parse(%q) = %v, want the default", in, got)
		}
	}
}

func TestFromAcceptLanguageWeighs(t *testing.T) {
	for in, want := range map[string]Tag{
		"":                              ZH,
		"en":                            EN,
		"en-AU,en;q=0.9":                EN,
		"fr-FR,fr;q=0.9,en;q=0.8":       EN,
		"fr-FR,fr;q=0.9":                ZH,
		"zh-TW,zh;q=0.9,en;q=0.8":       ZH,
		"en;q=0.2,zh-CN;q=0.9":          ZH,
		"zh-CN;q=0,en;q=0.1":            EN,
		"en-GB,en-US;q=0.9,zh-CN;q=0.8": EN,
		"*":                             ZH,
		"en;q=abc":                      ZH,
		"\x00\x01":                      ZH,
	} {
		if got := FromAcceptLanguage(in); got != want {
			t.Errorf("FromAcceptLanguage(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestCommonTagsTakeNoAllocation(t *testing.T) {
	for _, in := range []string{"en", "zh-CN"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = Parse(in); _ = FromAcceptLanguage(in) }); n != 0 {
			t.Errorf("Parse(%q) allocates %v times", in, n)
		}
	}
}

func TestTraditionalChineseOutweighsAWeakerEnglish(t *testing.T) {
	for _, in := range []string{"en;q=0.2, zh-TW;q=0.9", "zh-HK,en;q=0.5", "zh-Hant-TW,en;q=0.8"} {
		if got := FromAcceptLanguage(in); got != ZH {
			t.Errorf("FromAcceptLanguage(%q) = %v, want zh-CN until the registry publishes zh-Hant", in, got)
		}
	}
}

// A browser's header, matched once, costs nothing after: the public badge
// endpoint reads one per request.
func TestARememberedHeaderTakesNoAllocation(t *testing.T) {
	const h = "zh-CN,zh;q=0.9,en-US;q=0.8,en;q=0.7"
	if got := FromAcceptLanguage(h); got != ZH {
		t.Fatalf("FromAcceptLanguage(%q) = %v", h, got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = FromAcceptLanguage(h) }); n != 0 {
		t.Errorf("a remembered header allocates %v times", n)
	}
	if got := FromAcceptLanguage("en-GB,en;q=0.9"); got != EN {
		t.Errorf("after remembering, en-GB reads %v", got)
	}
}
