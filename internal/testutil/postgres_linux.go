package testutil

import "syscall"

// setParentDeathSignal makes the kernel stop the private PostgreSQL
// (SIGQUIT: immediate shutdown) when the test binary dies without calling
// StopPostgres (a panic, a go test timeout).
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGQUIT }
