package timescale_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

func TestScale(t *testing.T) {
	for _, tc := range []struct {
		factor string
		in     time.Duration
		want   time.Duration
	}{
		{"", 10 * time.Second, 10 * time.Second},
		{"1", 10 * time.Second, 10 * time.Second},
		{"3", 10 * time.Second, 30 * time.Second},
		{"2.5", 2 * time.Second, 5 * time.Second},
		{"0.5", 50 * time.Millisecond, 25 * time.Millisecond},
		{"1e300", time.Second, math.MaxInt64},
		{"1e300", -time.Second, math.MinInt64},
	} {
		t.Run(tc.factor, func(t *testing.T) {
			t.Setenv(timescale.Variable, tc.factor)
			if got := timescale.Scale(tc.in); got != tc.want {
				t.Errorf("%s=%q: Scale(%v) = %v, want %v", timescale.Variable, tc.factor, tc.in, got, tc.want)
			}
		})
	}
}

func TestABadFactorPanicsNamingTheVariable(t *testing.T) {
	for _, bad := range []string{"0", "-1", "three", "3x", " 3", "NaN", "Inf", "+Inf"} {
		t.Run(bad, func(t *testing.T) {
			t.Setenv(timescale.Variable, bad)
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, "QCSDK_TIME_SCALE") || !strings.Contains(msg, bad) {
					t.Errorf("%s=%q: panic %q, want one naming the variable and its value", timescale.Variable, bad, msg)
				}
			}()
			timescale.Scale(time.Second)
		})
	}
}
