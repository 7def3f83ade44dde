package state

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/buildmaster/buildmaster/internal/hugeheap"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

// TestHugeAdvise: hugeAdvise marks the huge pages of a range for
// transparent huge pages, prefaults them, and its undo marks them not to
// be; a range with no whole huge page in it is left alone.
func TestHugeAdvise(t *testing.T) {
	if ok, why, err := hugeheap.Wanted(); !ok {
		t.Skipf("no huge pages to ask for here: %s %v", why, err)
	}
	mem, err := unix.Mmap(-1, 0, 8*hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	p := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	beg := (p + hugePage - 1) &^ (hugePage - 1) // the first whole huge page

	hugeAdvise(beg+1, hugePage)() // no whole huge page: nothing advised
	if flags, _ := vma(t, beg); strings.Contains(flags, " hg") || strings.Contains(flags, " nh") {
		t.Fatalf("a range without a whole huge page was advised: VmFlags%s", flags)
	}
	undo := hugeAdvise(p, uintptr(len(mem)))
	testkit.Eventually(t, "the advised range prefaulted", func() bool {
		_, rss := vma(t, beg)
		return rss >= 4*hugePage
	})
	if flags, _ := vma(t, beg); !strings.Contains(flags, " hg") {
		t.Errorf("advised range: VmFlags%s, want hg (MADV_HUGEPAGE)", flags)
	}
	undo()
	if flags, _ := vma(t, beg); !strings.Contains(flags, " nh") {
		t.Errorf("after undo: VmFlags%s, want nh (MADV_NOHUGEPAGE)", flags)
	}
}

// TestHugeAdviseKeepsEarlierAdvice: the undo of hugeAdvise leaves the
// huge pages that were advised MADV_HUGEPAGE before it (internal/hugeheap
// advises the memory a master's heap grows into at its start, and a
// restore's preparation lands in it) advised so, and takes the advice back
// from the rest only.
func TestHugeAdviseKeepsEarlierAdvice(t *testing.T) {
	if ok, why, err := hugeheap.Wanted(); !ok {
		t.Skipf("no huge pages to ask for here: %s %v", why, err)
	}
	mem, err := unix.Mmap(-1, 0, 10*hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	p := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	beg := (p + hugePage - 1) &^ (hugePage - 1) // the first whole huge page
	// Huge pages 2-3 and 6 (of 0-7) advised before, as hugeheap would.
	for _, r := range [][2]uintptr{{2, 4}, {6, 7}} {
		if err := madvise(beg+r[0]*hugePage, (r[1]-r[0])*hugePage, unix.MADV_HUGEPAGE); err != nil {
			t.Skipf("madvise(MADV_HUGEPAGE): %v", err)
		}
	}
	hugeAdvise(beg, 8*hugePage)()
	for i := uintptr(0); i < 8; i++ {
		want := " nh"
		if i == 2 || i == 3 || i == 6 {
			want = " hg"
		}
		if flags, _ := vma(t, beg+i*hugePage); !strings.Contains(flags, want) {
			t.Errorf("huge page %d after undo: VmFlags%s, want%s", i, flags, want)
		}
	}
}

// TestPrepareRestoreHeapUntouched: the memory prepareRestoreHeap grows the
// heap by is left untouched (the restore and prefault fault it in), even
// when the heap's last used pages are free: the runtime zeroes an
// allocation that begins in memory the heap used before, all of it, and
// one allocation of the whole size would begin there, a page fault per 4
// KiB (a master's start, now and then: the config and the raft log read
// before the restore leave such memory). Each try is a process of its own
// (a master's start; later tries in one process find the heap the first
// grew), and four are made: where a freed allocation lies in the heap is
// the runtime's choice, and one process in three has other pages above it.
func TestPrepareRestoreHeapUntouched(t *testing.T) {
	const size = 512 << 20
	if ok, _, _ := hugeheap.Wanted(); !ok || preparedHeapMax() < size {
		t.Skipf("no heap to prepare here (no huge pages to ask for, or less than %d MiB)", size>>20)
	}
	if testkit.Race {
		t.Skip("the race detector faults its shadow memory in for every allocation")
	}
	if os.Getenv("STATE_PREPARE_CHILD") == "" {
		for range 4 {
			cmd := exec.Command(os.Args[0], "-test.run=^TestPrepareRestoreHeapUntouched$", "-test.count=1")
			cmd.Env = append(os.Environ(), "STATE_PREPARE_CHILD=1")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("child process: %v\n%s", err, out)
			}
		}
		return
	}
	restoreGC.begin()
	defer restoreGC.end()
	used := make([]byte, 64<<20)
	for i := 0; i < len(used); i += 4096 {
		used[i] = 1
	}
	used = nil
	runtime.GC() // used's pages are free now, at the top of the heap
	faults := testkit.MinorFaults()
	prepareRestoreHeap(size / restoreHeapPerSnapshotByte)()
	if got := testkit.MinorFaults() - faults; got > size/4096/4 {
		t.Errorf("preparing %d MiB of heap took %d page faults: it was touched", size>>20, got)
	}
}

// TestPrepareRestoreHeapReadsGODEBUG: prepareRestoreHeap reads GODEBUG's
// disablethp as the runtime does (hugeheap.Wanted): the last setting wins,
// so "disablethp=1,disablethp=0" leaves huge pages on and the heap is
// prepared (hugeAdviseMin allocated), while "disablethp=1" prepares
// nothing.
func TestPrepareRestoreHeapReadsGODEBUG(t *testing.T) {
	t.Setenv("GODEBUG", "")
	if ok, why, err := hugeheap.Wanted(); !ok || preparedHeapMax() < hugeAdviseMin {
		t.Skipf("no heap to prepare here: %s %v", why, err)
	}
	snapshot := int64(hugeAdviseMin+restoreHeapPerSnapshotByte-1) / restoreHeapPerSnapshotByte
	for _, c := range []struct {
		godebug  string
		prepared bool
	}{
		{"disablethp=1,disablethp=0", true},
		{"disablethp=1", false},
	} {
		t.Setenv("GODEBUG", c.godebug)
		before := heapAllocated()
		prepareRestoreHeap(snapshot)()
		if got := heapAllocated() - before; (got >= hugeAdviseMin) != c.prepared {
			t.Errorf("GODEBUG=%s: prepareRestoreHeap allocated %d KiB, want the heap prepared %v (%d KiB)",
				c.godebug, got>>10, c.prepared, hugeAdviseMin>>10)
		}
	}
}

// heapAllocated is how many bytes the process has allocated on the heap.
func heapAllocated() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// vma returns the VmFlags and the resident bytes of the mapping that holds
// address p, from /proc/self/smaps.
func vma(t *testing.T, p uintptr) (flags string, rss int) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 {
			in = lo <= p && p < hi
			continue
		}
		if !in {
			continue
		}
		if kb, ok := strings.CutPrefix(line, "Rss:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(kb, "kB")))
			rss = n << 10
		}
		if f, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			return f, rss
		}
	}
	t.Fatalf("no mapping holds %#x in /proc/self/smaps", p)
	return "", 0
}
