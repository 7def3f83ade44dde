//go:build unix && !linux

package changes

import "syscall"

// dieWithParent: only Linux can have a child killed when its parent dies.
func dieWithParent(*syscall.SysProcAttr) {}
