package timescale

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"time"
)

// Variable is the environment variable that holds the factor.
const Variable = "QCSDK_TIME_SCALE"

// Scale returns d multiplied by the factor in QCSDK_TIME_SCALE (1 when
// it is unset or empty). It panics if the factor is not a positive,
// finite decimal. A product too large for a time.Duration is the
// largest one.
func Scale(d time.Duration) time.Duration {
	f := Factor()
	if f == 1 {
		return d
	}
	scaled := float64(d) * f
	switch {
	case scaled >= math.MaxInt64:
		return math.MaxInt64
	case scaled <= math.MinInt64:
		return math.MinInt64
	}
	return time.Duration(scaled)
}

// Factor returns the factor in QCSDK_TIME_SCALE, 1 when it is unset or
// empty, and panics if it is not a positive, finite decimal. The
// variable is read on every call, so that a test may set it with
// t.Setenv.
func Factor() float64 {
	s := os.Getenv(Variable)
	if s == "" {
		return 1
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		panic(fmt.Sprintf("%s=%q: want a positive decimal factor for every time limit in the tests, such as 3", Variable, s))
	}
	return f
}
