//go:build !linux

package redistest

import "os"

// killTree kills the server (its children are left alone here).
func killTree(p *os.Process) { p.Kill() } //nolint:errcheck
