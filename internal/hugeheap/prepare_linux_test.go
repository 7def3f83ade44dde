package hugeheap

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestPrepare: after Prepare, the heap grows into memory the kernel backs
// with transparent huge pages: the mapping under a fresh allocation of
// 16 MiB is eligible for them (THPeligible: 1 in /proc/self/smaps), all
// but the huge page it begins in (the prepared memory begins at the first
// whole one). In mode "always" it is without Prepare; in "never" it
// cannot be. GOGC is as it was before.
func TestPrepare(t *testing.T) {
	text, err := os.ReadFile(modeFile)
	if err != nil {
		t.Skipf("no transparent huge pages here: %v", err)
	}
	mode, err := ParseMode(string(text))
	if err != nil || mode == Never {
		t.Skipf("transparent huge pages: %q (%v)", text, err)
	}
	t.Setenv("GODEBUG", "")
	if ok, why, err := Wanted(); !ok && mode == Madvise {
		t.Skipf("Prepare does nothing here: %s %v", why, err)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(37))
	Prepare(64<<20, nil)
	if got := debug.SetGCPercent(37); got != 37 {
		t.Errorf("GOGC %d after Prepare, want it back at 37", got)
	}
	b := make([]byte, 16<<20)
	for _, p := range []*byte{&b[2<<20], &b[len(b)/2], &b[len(b)-1]} {
		if m := mappingOf(t, uintptr(unsafe.Pointer(p))); !m.eligible {
			t.Errorf("a fresh allocation at %p lies in a mapping not eligible for huge pages: %s", p, m)
		}
	}
	runtime.KeepAlive(b)
}

// TestPrepareWithinMemoryLimit: under a memory limit (GOMEMLIMIT) Prepare
// allocates at most half of it, as internal/state's restore preparation
// does: more would run a collection per chunk (the limit, not GOGC,
// triggers them with the collector off) and advise memory that khugepaged
// may keep resident while the runtime counts it as handed back, past the
// limit the user set. A size under a chunk, or negative, does nothing.
func TestPrepareWithinMemoryLimit(t *testing.T) {
	t.Setenv("GODEBUG", "")
	if ok, why, err := Wanted(); !ok {
		t.Skipf("Prepare does nothing here: %s %v", why, err)
	}
	const limit = 48 << 20
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(limit))
	for _, c := range []struct{ size, most int64 }{
		{128 << 20, limit / 2},
		{chunk - 1, 0},
		{-chunk, 0},
	} {
		// The runtime counts a P's small allocations when its cached span goes
		// back, as in a collection: those made before Prepare are counted now.
		runtime.GC()
		before := allocated()
		Prepare(c.size, nil)
		if got := allocated() - before; got > c.most+64<<10 {
			t.Errorf("Prepare(%d) under a memory limit of %d MiB allocated %d KiB, want at most %d",
				c.size, limit>>20, got>>10, c.most>>10)
		}
	}
}

// allocated is how many bytes the process has allocated on the heap.
func allocated() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// mapping is what /proc/self/smaps says of one mapping.
type mapping struct {
	header   string // its first line: range, permissions, file
	eligible bool   // THPeligible: 1
}

func (m mapping) String() string {
	return fmt.Sprintf("%s (THPeligible %v)", m.header, m.eligible)
}

// mappingOf is the mapping of the process that holds address p.
func mappingOf(t *testing.T, p uintptr) mapping {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var m mapping
	found := false
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if rng, _, ok := strings.Cut(line, " "); ok && strings.Contains(rng, "-") && !strings.HasSuffix(rng, ":") {
			if found {
				break // the next mapping's header
			}
			lo, hi, _ := strings.Cut(rng, "-")
			beg, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil && uint64(p) >= beg && uint64(p) < end {
				found, m.header = true, line
			}
			continue
		}
		if !found {
			continue
		}
		if v, ok := strings.CutPrefix(line, "THPeligible:"); ok {
			m.eligible = strings.TrimSpace(v) == "1"
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("no mapping holds %#x", p)
	}
	return m
}
