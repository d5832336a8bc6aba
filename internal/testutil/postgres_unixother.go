//go:build unix && !linux

package testutil

import "syscall"

// setParentDeathSignal does nothing where the kernel has no parent death
// signal: a test binary that dies without StopPostgres leaves its server.
func setParentDeathSignal(*syscall.SysProcAttr) {}
