package state

import (
	"bufio"
	"fmt"
	"os"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// hugePage is the size of a transparent huge page (x86-64, and arm64
	// with 4 KiB pages).
	hugePage = 2 << 20
	// hugeAdviseMin is the least heap worth preparing.
	hugeAdviseMin = 64 << 20
	// populateChunk is how much populate faults in at a time, and
	// populateLead how far ahead of the restore's allocations it goes.
	populateChunk, populateLead = 16 << 20, 64 << 20
)

// preparedHeapMax is the most prepareRestoreHeap may allocate: half the
// machine's memory.
func preparedHeapMax() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit) / 2
}

// hugeAdvise advises the whole huge pages within [p, p+n) MADV_HUGEPAGE,
// and starts prefault on them. The function it returns stops prefault and
// takes the advice back, except from the parts of the range that were
// advised MADV_HUGEPAGE before (internal/hugeheap's, at a master's start:
// a restore's preparation lands in them). A refusal is ignored: the advice
// is only an optimisation.
func hugeAdvise(p, n uintptr) (undo func()) {
	beg, end := (p+hugePage-1)&^(hugePage-1), (p+n)&^(hugePage-1)
	if beg >= end {
		return func() {}
	}
	before, err := hugeAdvised(beg, end)
	if err != nil || madvise(beg, end-beg, unix.MADV_HUGEPAGE) != nil {
		return func() {}
	}
	var stop atomic.Bool
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		prefault(beg, end, &stop)
	}()
	return func() {
		stop.Store(true)
		<-finished
		_ = madvise(beg, end-beg, unix.MADV_NOHUGEPAGE)
		for _, r := range before {
			_ = madvise(r[0], r[1]-r[0], unix.MADV_HUGEPAGE)
		}
	}
}

// hugeAdvised returns the parts of [beg, end) that lie in mappings advised
// MADV_HUGEPAGE (VmFlags hg in /proc/self/smaps), in address order.
func hugeAdvised(beg, end uintptr) ([][2]uintptr, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, fmt.Errorf("huge page advice: %w", err)
	}
	defer f.Close()
	var parts [][2]uintptr
	var lo, hi uintptr // the mapping whose VmFlags come next, clipped to [beg, end)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if flags, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			if lo < hi && slices.Contains(strings.Fields(flags), "hg") {
				parts = append(parts, [2]uintptr{lo, hi})
			}
			lo, hi = 0, 0
			continue
		}
		rng, _, _ := strings.Cut(line, " ")
		l, h, ok := strings.Cut(rng, "-")
		if !ok {
			continue
		}
		a, errA := strconv.ParseUint(l, 16, 64)
		b, errB := strconv.ParseUint(h, 16, 64)
		if errA != nil || errB != nil {
			continue
		}
		lo, hi = max(uintptr(a), beg), min(uintptr(b), end)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("huge page advice: /proc/self/smaps: %w", err)
	}
	return parts, nil
}

// prefault faults in [beg, end) with MADV_POPULATE_WRITE (Linux 5.14),
// populateChunk at a time, no more than populateLead ahead of what the
// process has allocated since it began (the runtime hands out its lowest
// free pages first, so the restore fills the range from beg), until stop
// or the end. The kernel does in one call what would otherwise be a fault
// per page on the restore's goroutines, and on another core: the restore
// finds its memory there. It changes no byte of memory, so racing the
// runtime's use of the range is harmless; it only makes pages resident.
func prefault(beg, end uintptr, stop *atomic.Bool) {
	allocs := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(allocs)
	base := allocs[0].Value.Uint64()
	for p := beg; p < end && !stop.Load(); {
		metrics.Read(allocs)
		if used := uintptr(allocs[0].Value.Uint64() - base); p-beg > used+populateLead {
			time.Sleep(time.Millisecond)
			continue
		}
		if madvise(p, min(populateChunk, end-p), unix.MADV_POPULATE_WRITE) != nil {
			return // before Linux 5.14, or no memory: the restore faults its pages in itself
		}
		p += populateChunk
	}
}

// madvise is madvise(2) on addresses, not a slice: the range is the
// runtime's once the allocation that held it is freed, and a Go pointer
// into freed heap memory must not exist.
func madvise(p, n uintptr, advice int) error {
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, p, n, uintptr(advice)); errno != 0 {
		return errno
	}
	return nil
}
