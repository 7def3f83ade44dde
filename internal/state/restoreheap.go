package state

import (
	"runtime"
	"runtime/debug"
	"unsafe"
)

// restoreHeapPerSnapshotByte is how many bytes a restore allocates per
// byte of snapshot (BenchmarkRecoveryHistory: 1.6 GiB, a 1.2 GiB heap and
// what the inserts throw away, from a snapshot of 118 MiB). More only
// reserves address space: prefault follows the allocations.
const restoreHeapPerSnapshotByte = 14

// prepareRestoreHeap makes the memory a restore is about to fill cheaper
// to touch, given the snapshot's size in bytes (0: unknown, nothing is
// done). A restore builds a heap from nothing with the collector off
// (restoreGC), so every page it allocates is fresh memory that the kernel
// faults in and zeroes, 4 KiB at a time: half a million page faults for
// 1M changes and 100k builds, about 40% of the restore's CPU on the VM it
// is measured on. Backed by transparent huge pages, the same memory is
// faulted in 2 MiB at a time, and a goroutine prefaults it
// (MADV_POPULATE_WRITE) just ahead of the restore's allocations, on the
// other core.
//
// Linux gives a process huge pages only where it asks for them (THP mode
// "madvise", the common default) and the Go runtime does not ask for its
// heap. So the heap is grown here by one large allocation of about the
// restore's size, whose pages (never touched) are advised MADV_HUGEPAGE
// (hugeAdvise) and then given back to the runtime with a collection: the
// runtime hands out its lowest free pages first, so the restore's objects
// land there. The done function it returns takes the advice back
// (MADV_NOHUGEPAGE), so that once the restore is over the kernel's
// khugepaged does not fill the ranges the runtime later returns to the
// system with whole huge pages.
//
// It is for a process's first restore, a master's start. Where the heap
// already holds free memory it has used (a restore in a process that ran
// long), the restore's objects land there, not in the prepared range, and
// the allocation, when it begins in such memory, is zeroed by the runtime,
// all of it, the part the heap grew into one page fault per 4 KiB
// (BenchmarkRecoveryHistory's doc).
//
// Nothing depends on it for correctness: where huge pages are not
// available (another OS, THP "always" or "never", GODEBUG=disablethp=1)
// it does nothing, where madvise refuses it only grows the heap; the
// restored database is the same (TestRestoreHeapSame). What it allocates
// is bounded by half the GOMEMLIMIT and by preparedHeapMax (half the
// machine's memory; nothing under strict overcommit), so that it never
// asks for memory the restore could not have used.
func prepareRestoreHeap(snapshotBytes int64) (done func()) {
	n := snapshotBytes * restoreHeapPerSnapshotByte
	if limit := debug.SetMemoryLimit(-1); n > limit/2 {
		n = limit / 2
	}
	if n < hugeAdviseMin || !hugePagesAdvised() {
		return func() {}
	}
	if n = min(n, preparedHeapMax()); n < hugeAdviseMin {
		return func() {}
	}
	b := make([]byte, n)
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	undo := hugeAdvise(p, uintptr(n))
	b = nil
	runtime.GC() // frees b: its pages go back to the runtime, advised
	return undo
}
