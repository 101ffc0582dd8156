//go:build !linux

package main

import "os/exec"

// dieWithParent is a no-op where the kernel offers no parent-death signal:
// qcload stops its redis-server on every exit it sees (see main).
func dieWithParent(*exec.Cmd) {}
