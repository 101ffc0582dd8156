package client_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
)

// fullStatus has every pointer and slice of a status set, so that a clone
// that shares any of them is caught.
func fullStatus() *client.ProductStatus {
	now := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	return &client.ProductStatus{
		Key:        client.ProductKey{GTIN: "06901234567892"},
		Listed:     true,
		Product:    &client.Product{Name: client.Text{ZH: "电水壶", EN: "Kettle"}, Brand: "清源"},
		Enterprise: &client.Enterprise{ID: "ent_1", Categories: []string{"small_appliances"}},
		Commitment: &client.Commitment{
			ID:           "cmt_1",
			Scope:        client.Scope{Brands: []string{"清源"}, Models: []string{"K1"}, GTINPrefixes: []string{"690123"}},
			Items:        []client.CommitmentItem{{Kind: "standard", Text: client.Text{ZH: "符合"}}},
			StatusReason: &client.Text{ZH: "原因"},
		},
		Inspections: []client.Inspection{{
			ID:            "ins_1",
			FailedItems:   []client.FailedItem{{Item: client.Text{ZH: "功率"}}},
			Rectification: &client.Rectification{Status: "completed", CompletedAt: &now, Note: &client.Text{ZH: "已整改"}},
		}},
	}
}

func TestCloneIsEqualAndSharesNothing(t *testing.T) {
	orig := fullStatus()
	cp := orig.Clone()
	if d := cmp.Diff(orig, cp); d != "" {
		t.Fatalf("clone differs (-orig +clone):\n%s", d)
	}
	// Change every reachable field of the clone; the original must not
	// notice.
	before, _ := json.Marshal(orig)
	scribble(reflect.ValueOf(cp).Elem())
	after, _ := json.Marshal(orig)
	if string(before) != string(after) {
		t.Fatalf("changing the clone changed the original:\nbefore %s\nafter  %s", before, after)
	}
	if (*client.ProductStatus)(nil).Clone() != nil {
		t.Error("Clone of nil is not nil")
	}
}

// scribble overwrites every string, number and time it can reach through
// pointers, slices and struct fields.
func scribble(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			scribble(v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			scribble(v.Index(i))
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(1, 0)))
			return
		}
		for i := range v.NumField() {
			scribble(v.Field(i))
		}
	case reflect.String:
		v.SetString("scribbled")
	case reflect.Int64:
		v.SetInt(-1)
	case reflect.Bool:
		v.SetBool(!v.Bool())
	}
}
