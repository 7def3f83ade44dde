package testkit

import (
	"syscall"
	"testing"
)

// Tmpfs mounts a tmpfs of size (mount's syntax, e.g. "8m") on a new
// temporary directory, unmounted when the test ends, and returns the
// directory: a real file system that fills up, for disk-full tests. Where
// mounting is not permitted (not root) it skips the test, saying so.
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs of %s here (%v): this disk-full test needs root", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}
