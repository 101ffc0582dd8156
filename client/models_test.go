package client_test

import (
	"testing"

	"github.com/qualitycommit/qcsdk/client"
)

func TestTextInReadsTagsByBCP47(t *testing.T) {
	both := client.Text{ZH: "质量承诺", EN: "Quality commitment"}
	for tag, want := range map[string]string{
		"en": both.EN, "en-AU": both.EN, "EN-gb": both.EN,
		"zh-CN": both.ZH, "zh-TW": both.ZH, "zh-Hans-SG": both.ZH, "fr": both.ZH, "": both.ZH, "en_!": both.ZH,
	} {
		if got := both.In(tag); got != want {
			t.Errorf("In(%q) = %q, want %q", tag, got, want)
		}
	}
	if got := (client.Text{ZH: "质量承诺"}).In("en"); got != "质量承诺" {
		t.Errorf("with no English, In(en) = %q, want the Chinese", got)
	}
}
