//go:build !linux

package state

// hugeAdviseMin: without Linux's transparent huge pages nothing is worth
// advising.
const hugeAdviseMin = 1 << 62

func preparedHeapMax() int64 { return 0 }

func hugeAdvise(p, n uintptr) func() { return func() {} }
