//go:build unix && !linux

package pgtemp

import "syscall"

// setParentDeathSignal does nothing where the kernel has no parent death
// signal: a process that dies without Stop leaves its server.
func setParentDeathSignal(*syscall.SysProcAttr) {}
