// Package zipf draws ranks with Zipf's law, for any exponent: product
// popularity in the page-view simulation and the load harness.
package zipf

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Dist draws ranks 0..n-1 with P(k) ∝ 1/(k+1)^s, for any s > 0 (the
// standard library's rand.Zipf needs s > 1). It is not safe for
// concurrent use; give each goroutine its own.
type Dist struct {
	cdf []float64
	rng *rand.Rand
}

// New builds a distribution over n ranks, seeded for repeatable draws.
func New(n int, s float64, seed uint64) *Dist {
	z := &Dist{cdf: make([]float64, n), rng: rand.New(rand.NewPCG(seed, 7))}
	var sum float64
	for k := range n {
		sum += 1 / math.Pow(float64(k+1), s)
		z.cdf[k] = sum
	}
	for k := range z.cdf {
		z.cdf[k] /= sum
	}
	return z
}

// Next draws a rank.
func (z *Dist) Next() int {
	return min(sort.SearchFloat64s(z.cdf, z.rng.Float64()), len(z.cdf)-1)
}
