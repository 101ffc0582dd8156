//go:build !unix

package main

import "time"

// processCPU is 0 where the CPU time is not read: -compare then reports
// throughput alone.
func processCPU() time.Duration { return 0 }
