//go:build !unix

package master

// openFileLimit is the process's limit on open files; 0: unknown here.
func openFileLimit() uint64 { return 0 }
