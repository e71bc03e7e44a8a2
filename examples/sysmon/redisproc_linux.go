package main

import "syscall"

// childAttr puts the child in its own process group and asks the kernel to
// SIGKILL it when the thread that started it exits: no redis-server
// outlives a sysmon killed with SIGKILL. Go threads live as long as the
// process, except those of goroutines that exit while locked to their
// thread, which sysmon does not do.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
