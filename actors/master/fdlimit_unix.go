//go:build unix

package master

import "syscall"

// openFileLimit is the process's soft limit on open files; 0 when unknown.
// (The Go runtime raises it to the hard limit when the process starts.)
func openFileLimit() uint64 {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		return 0
	}
	return uint64(l.Cur)
}
