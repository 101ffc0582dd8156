package client_test

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
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

// The change feed's page writes the feed's JSON: the same keys in the same
// order, and next_cursor and has_more written even when empty or false,
// as the contract requires them.
func TestChangePageJSONIsTheFeeds(t *testing.T) {
	wire := `{"data":[{"id":"evt_1","seq":1,"cursor":"c1","type":"inspection.published","occurred_at":"2024-06-05T09:00:00+08:00"}],"next_cursor":"c1","has_more":false}`
	var page client.ChangePage
	if err := json.Unmarshal([]byte(wire), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != "evt_1" || page.NextCursor != "c1" || page.HasMore {
		t.Fatalf("decoded %+v", page)
	}
	out, err := json.Marshal(page)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal([]byte(wire), &b)
	if diff := cmp.Diff(b, a); diff != "" {
		t.Errorf("re-encoded page differs (-wire +encoded):\n%s", diff)
	}
	keys := regexp.MustCompile(`"(data|next_cursor|has_more)":`).FindAllStringSubmatch(string(out), -1)
	if len(keys) != 3 || keys[0][1] != "data" || keys[1][1] != "next_cursor" || keys[2][1] != "has_more" {
		t.Errorf("top-level keys %v, want data, next_cursor, has_more in that order: %s", keys, out)
	}
	empty, _ := json.Marshal(client.ChangePage{Data: []client.Event{}})
	if string(empty) != `{"data":[],"next_cursor":"","has_more":false}` {
		t.Errorf("the head's empty page encodes as %s", empty)
	}
}
