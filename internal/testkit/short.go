package testkit

import "testing"

// ShortOr is n, or small when the test binary runs with -short: CI runs
// every benchmark once, small, to check it still works.
func ShortOr(n, small int) int {
	if testing.Short() {
		return small
	}
	return n
}
