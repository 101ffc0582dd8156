package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the child when qcload dies, however
// it dies: a redis-server left behind would hold its port and memory.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
