package changes

import "syscall"

// dieWithParent has the child killed when the master dies.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
