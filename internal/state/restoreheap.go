package state

import (
	"runtime"
	"runtime/debug"
	"slices"
	"unsafe"

	"github.com/buildmaster/buildmaster/internal/hugeheap"
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
// heap. So the heap is grown here by allocations of about the restore's
// size in all, the longest run of them that lies in one piece is advised
// MADV_HUGEPAGE (hugeAdvise), and they are given back to the runtime with
// a collection: the runtime hands out its lowest free pages first, so the
// restore's objects land there. The done function it returns takes the
// advice back (MADV_NOHUGEPAGE), so that once the restore is over the
// kernel's khugepaged does not fill the ranges the runtime later returns
// to the system with whole huge pages; memory advised MADV_HUGEPAGE before
// (internal/hugeheap's, at a master's start) keeps its advice.
//
// The allocations are prepareChunk each, not one: the runtime zeroes an
// allocation that begins in memory the heap has used before, all of it,
// and one of the whole size would begin in the free pages at the top of
// the heap whenever the last thing allocated before the restore was freed
// (a master's start, now and then): 1.8 GiB zeroed, a page fault per 4
// KiB, 5 to 8 CPU-seconds (TestPrepareRestoreHeapUntouched). Only the
// chunks that land in such memory are zeroed now. In a process that has
// used and freed more than the restore needs (one that ran long), the
// restore's objects land there, not in the prepared range, and the chunks
// that land there are zeroed: it is for a process's first restore, a
// master's start.
//
// Nothing depends on it for correctness: where hugeheap.Wanted says no
// (another OS, THP "always" or "never", GODEBUG's disablethp on, strict
// overcommit, where memory allocated and never used would count against
// the commit limit) it does nothing, where madvise refuses it only grows
// the heap; the restored database is the same (TestRestoreHeapSame). What
// it allocates is bounded by half the GOMEMLIMIT and by preparedHeapMax
// (half the machine's memory), so that it never asks for memory the
// restore could not have used.
func prepareRestoreHeap(snapshotBytes int64) (done func()) {
	n := snapshotBytes * restoreHeapPerSnapshotByte
	if limit := debug.SetMemoryLimit(-1); n > limit/2 {
		n = limit / 2
	}
	if n < hugeAdviseMin {
		return func() {}
	}
	// Why not, or what could not be read, changes nothing but speed.
	if ok, _, _ := hugeheap.Wanted(); !ok {
		return func() {}
	}
	if n = min(n, preparedHeapMax()); n < hugeAdviseMin {
		return func() {}
	}
	chunks := make([][]byte, n/prepareChunk)
	for i := range chunks {
		chunks[i] = make([]byte, prepareChunk)
	}
	beg, end := longestRun(chunks)
	undo := hugeAdvise(beg, end-beg)
	chunks = nil
	runtime.GC() // frees the chunks: their pages go back to the runtime, advised
	return undo
}

// prepareChunk is the size of prepareRestoreHeap's allocations: at most
// this much fresh memory is zeroed where one begins in used memory.
const prepareChunk = 8 << 20

// longestRun is the address range of the longest run of chunks that lie
// one after the other in memory.
func longestRun(chunks [][]byte) (beg, end uintptr) {
	addrs := make([]uintptr, len(chunks))
	for i, c := range chunks {
		addrs[i] = uintptr(unsafe.Pointer(unsafe.SliceData(c)))
	}
	slices.Sort(addrs)
	for i := 0; i < len(addrs); {
		j := i + 1
		for j < len(addrs) && addrs[j] == addrs[j-1]+prepareChunk {
			j++
		}
		if b, e := addrs[i], addrs[j-1]+prepareChunk; e-b > end-beg {
			beg, end = b, e
		}
		i = j
	}
	return beg, end
}
