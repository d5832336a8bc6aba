package pgtemp

import "syscall"

// setParentDeathSignal makes the kernel stop the private PostgreSQL
// (SIGQUIT: immediate shutdown) when the process that started it dies
// without calling Stop (a panic, a go test timeout, a kill).
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGQUIT }
