package zipf

import (
	"math"
	"testing"
)

// The draws follow the law: rank k is drawn about (k+1)^-s / H as often.
func TestDrawsFollowTheLaw(t *testing.T) {
	const n, draws = 100, 200_000
	for _, s := range []float64{0.7, 0.99, 1.2} {
		z := New(n, s, 1)
		counts := make([]int, n)
		for range draws {
			counts[z.Next()]++
		}
		var h float64
		for k := range n {
			h += 1 / math.Pow(float64(k+1), s)
		}
		for _, k := range []int{0, 1, 9, 49} {
			want := draws / math.Pow(float64(k+1), s) / h
			if got := float64(counts[k]); math.Abs(got-want) > 5*math.Sqrt(want)+1 {
				t.Errorf("s=%v rank %d: %v draws; want about %.0f", s, k, got, want)
			}
		}
	}
}
