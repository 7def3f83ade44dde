package state

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// TestHugeAdvise: hugeAdvise marks the huge pages of a range for
// transparent huge pages, prefaults them, and its undo marks them not to
// be; a range with no whole huge page in it is left alone.
func TestHugeAdvise(t *testing.T) {
	if !hugePagesAdvised() {
		t.Skipf("transparent huge pages are not in madvise mode here (%s)", thpEnabledFile)
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
