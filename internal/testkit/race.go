//go:build race

package testkit

// Race reports whether the binary is built with the race detector, which
// keeps shadow memory for every allocation: tests that count page faults
// skip under it.
const Race = true
