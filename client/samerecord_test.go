package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// sameRecord stands in for reflect.DeepEqual when a page's statuses share
// a record, so it must see every field: each change to each field of a
// record, at any depth (a string, a number, a time's instant or offset, a
// list's length or nil-ness, a pointer's nil-ness), makes it another
// record. The fields are found by reflection, so a field added to a record
// and not to sameRecord fails here.
func TestSameRecord(t *testing.T) {
	for _, kind := range []func() any{
		func() any { return new(Enterprise) },
		func() any { return new(Commitment) },
		func() any { return new(Inspection) },
	} {
		filled := func() any {
			r := kind()
			fill(reflect.ValueOf(r).Elem())
			return r
		}
		a := filled()
		if !sameRecord(a, filled()) {
			t.Fatalf("two %T filled alike are not the same", a)
		}
		if sameRecord(a, kind()) || sameRecord(kind(), a) {
			t.Errorf("a filled %T is the same as an empty one", a)
		}
		for k := 0; ; k++ {
			a, b := filled(), filled()
			what := change(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem(), k, fmt.Sprintf("%T", a))
			if what == "" {
				if k < reflect.TypeOf(a).Elem().NumField() {
					t.Fatalf("%T: only %d changes found", a, k)
				}
				break
			}
			if sameRecord(a, b) || sameRecord(b, a) {
				t.Errorf("%s: still the same record", what)
			}
		}
	}
	if sameRecord(new(Enterprise), new(Commitment)) || sameRecord(new(Case), new(Case)) {
		t.Error("records of different kinds, or a kind a status does not hold, are the same")
	}
}

// Records that encode alike are the same: the zone's name, which JSON
// does not carry, does not tell them apart, so a page's statuses decoded
// from one answer share their maker's leaf.
func TestSameRecordThroughJSON(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	for _, r := range []any{new(Enterprise), new(Commitment), new(Inspection)} {
		fill(reflect.ValueOf(r).Elem())
		setTimes(reflect.ValueOf(r).Elem(), func(tm time.Time) time.Time { return tm.In(cst) })
		raw, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		again := reflect.New(reflect.TypeOf(r).Elem()).Interface()
		if err := json.Unmarshal(raw, again); err != nil {
			t.Fatal(err)
		}
		if !sameRecord(r, again) {
			t.Errorf("%T through JSON and back is not the same:\n%s", r, raw)
		}
		if raw2, _ := json.Marshal(again); !bytes.Equal(raw, raw2) {
			t.Fatalf("%T does not encode alike through JSON and back", r)
		}
	}
}

var timeType = reflect.TypeFor[time.Time]()

// fill sets every field reachable from v: strings "x", numbers 1, times
// one instant in UTC, lists one element, pointers a filled value.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 7, 8, 0, 0, 5, time.UTC)))
			return
		}
		for i := range v.NumField() {
			fill(v.Field(i))
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.String:
		// Identifiers are validated when decoded, so they must be valid.
		switch v.Type() {
		case reflect.TypeFor[GTIN]():
			v.SetString("06901234567892")
		case reflect.TypeFor[USCC]():
			v.SetString("91350100M000100Y43")
		default:
			v.SetString("x")
		}
	case reflect.Int, reflect.Int64:
		v.SetInt(1)
	case reflect.Bool:
		v.SetBool(true)
	default:
		panic("fill: " + v.Type().String())
	}
}

// setTimes replaces every time reachable from v with f of it.
func setTimes(v reflect.Value, f func(time.Time) time.Time) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(f(v.Interface().(time.Time))))
			return
		}
		for i := range v.NumField() {
			setTimes(v.Field(i), f)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			setTimes(v.Elem(), f)
		}
	case reflect.Slice:
		for i := range v.Len() {
			setTimes(v.Index(i), f)
		}
	}
}

// change makes the k-th change of those a filled value a and its twin b
// allow, counted depth first, and says what it changed; "" when there are
// fewer than k+1.
func change(a, b reflect.Value, k int, path string) string {
	n := 0
	var walk func(a, b reflect.Value, path string) string
	next := func() bool { n++; return n-1 == k }
	walk = func(a, b reflect.Value, path string) string {
		switch b.Kind() {
		case reflect.Struct:
			if b.Type() == timeType {
				tm := b.Interface().(time.Time)
				if next() {
					b.Set(reflect.ValueOf(tm.Add(time.Nanosecond)))
					return path + " a nanosecond later"
				}
				if next() {
					b.Set(reflect.ValueOf(tm.In(time.FixedZone("", 3600))))
					return path + " at another offset"
				}
				return ""
			}
			for i := range b.NumField() {
				if what := walk(a.Field(i), b.Field(i), path+"."+b.Type().Field(i).Name); what != "" {
					return what
				}
			}
		case reflect.Pointer:
			if next() {
				b.SetZero()
				return path + " nil"
			}
			return walk(a.Elem(), b.Elem(), path)
		case reflect.Slice:
			if next() {
				b.SetZero()
				return path + " nil"
			}
			if next() {
				a.Set(reflect.MakeSlice(b.Type(), 0, 0))
				b.SetZero()
				return path + " nil, not empty"
			}
			if next() {
				b.Set(reflect.Append(b, b.Index(0)))
				return path + " longer"
			}
			return walk(a.Index(0), b.Index(0), path+"[0]")
		case reflect.String:
			if next() {
				b.SetString("y")
				return path
			}
		case reflect.Int, reflect.Int64:
			if next() {
				b.SetInt(2)
				return path
			}
		case reflect.Bool:
			if next() {
				b.SetBool(false)
				return path
			}
		default:
			panic("change: " + b.Type().String())
		}
		return ""
	}
	return walk(a, b, path)
}
