package main

import "syscall"

// childAttr: no process group or parent-death signal on Windows.
func childAttr() *syscall.SysProcAttr { return nil }
