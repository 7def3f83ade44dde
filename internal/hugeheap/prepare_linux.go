package hugeheap

import (
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// hugePage is the size of a transparent huge page (x86-64, and arm64
	// with 4 KiB pages).
	hugePage = 2 << 20
	// chunk is the size of Prepare's allocations. The runtime zeroes an
	// allocation that begins in memory the heap has used before, all of
	// it, fresh pages too (faulted in 4 KiB at a time, before the
	// advice): one allocation of the whole size would begin there
	// whenever the heap's last used pages are free, and fault in all of
	// it; only a chunk that begins there is zeroed.
	chunk = 8 << 20
)

// Prepare grows the heap by size bytes (at most half the memory limit,
// GOMEMLIMIT; rounded down to 8 MiB) backed by transparent huge pages when
// Wanted says it may ask for them (see the package's doc). It turns the
// collector off while it allocates, then runs a collection and hands free
// memory back to the system: call it once, at the start of the process,
// before the heap holds much and before anything else sets GOGC. log
// (nil: none) hears at warning level why it could not, at debug level why
// it need not.
func Prepare(size int64, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Past the limit the collector runs on each chunk (it does with GOGC
	// off too), and khugepaged may keep what the runtime hands back.
	size = min(size, debug.SetMemoryLimit(-1)/2)
	if size < chunk {
		return
	}
	ok, why, err := Wanted()
	if err != nil {
		log.Warn("huge pages for the heap", "error", err)
		return
	}
	if !ok {
		log.Debug("huge pages for the heap: not asked for", "why", why)
		return
	}
	chunks := make([][]byte, size/chunk)
	addrs := make([]uintptr, len(chunks))
	// Without the collector: each chunk would start a collection, their
	// marking all for nothing (8-10 ms of CPU for 128 MiB, against 1.5-2).
	gogc := debug.SetGCPercent(-1)
	for i := range chunks {
		chunks[i] = make([]byte, chunk)
		addrs[i] = uintptr(unsafe.Pointer(unsafe.SliceData(chunks[i])))
	}
	debug.SetGCPercent(gogc)
	if err := adviseRuns(addrs); err != nil {
		log.Warn("huge pages for the heap", "error", err)
	}
	runtime.KeepAlive(chunks) // no chunk is freed, and its memory handed out again, before it is advised
	// The chunks, dead from here, go back to the runtime, and their
	// memory, never touched, to the system: the runtime counts it as
	// released, not as resident, and its background scavenger has nothing
	// to hand back.
	debug.FreeOSMemory()
}

// adviseRuns advises MADV_HUGEPAGE the whole huge pages of each run of
// chunks at addrs that lie one after the other in memory: a chunk seldom
// begins on a huge page (the heap's last free pages come first), a run of
// them loses only the huge pages at its two ends.
func adviseRuns(addrs []uintptr) error {
	slices.Sort(addrs)
	for i := 0; i < len(addrs); {
		j := i + 1
		for j < len(addrs) && addrs[j] == addrs[j-1]+chunk {
			j++
		}
		beg, end := (addrs[i]+hugePage-1)&^(hugePage-1), (addrs[j-1]+chunk)&^(hugePage-1)
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, beg, end-beg, unix.MADV_HUGEPAGE); errno != 0 {
			return fmt.Errorf("madvise(%#x, %d MiB, MADV_HUGEPAGE): %w", beg, (end-beg)>>20, errno)
		}
		i = j
	}
	return nil
}
