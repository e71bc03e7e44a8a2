//go:build !linux && !windows

package main

import "syscall"

// childAttr puts the child in its own process group. Only Linux can have
// the child killed when sysmon dies (see redisproc_linux.go); elsewhere a
// sysmon killed with SIGKILL leaves its redis-server running.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
