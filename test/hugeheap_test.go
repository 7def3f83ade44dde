package test

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/hugeheap"
)

// TestMasterHeapHugePages: a running master has heap memory the kernel
// backs with transparent huge pages (internal/hugeheap): where the
// kernel gives them only on request (mode "madvise"), at least 64 MiB of
// its anonymous memory is eligible for them (THPeligible: 1 in its
// /proc/PID/smaps), the memory its heap grows into; in mode "always"
// some is without asking.
func TestMasterHeapHugePages(t *testing.T) {
	text, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil {
		t.Skipf("no transparent huge pages here: %v", err)
	}
	mode, err := hugeheap.ParseMode(string(text))
	if err != nil || mode == hugeheap.Never {
		t.Skipf("transparent huge pages: %q (%v)", text, err)
	}
	t.Parallel()
	m := startMaster(t, "")
	want := int64(1)
	if mode == hugeheap.Madvise {
		want = 64 << 20
	}
	if got := eligibleAnon(t, m.cmd.Process.Pid); got < want {
		t.Errorf("THP mode %s: %d KiB of the master's anonymous memory eligible for huge pages, want at least %d",
			mode, got>>10, want>>10)
	}
}

// eligibleAnon is the size of the anonymous read-write mappings of
// process pid that the kernel may back with transparent huge pages.
func eligibleAnon(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sum, size int64
	anon := false
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":"):
			// A mapping's header: no file (inode 0), no name but the one
			// the runtime may give its own ("[anon: Go: heap]").
			anon = fields[1] == "rw-p" && fields[4] == "0" && (len(fields) == 5 || strings.HasPrefix(fields[5], "[anon:"))
			size = 0
		case len(fields) == 3 && fields[0] == "Size:":
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				t.Fatalf("/proc/%d/smaps: %q: %v", pid, s.Text(), err)
			}
			size = kb << 10
		case len(fields) == 2 && fields[0] == "THPeligible:" && fields[1] == "1" && anon:
			sum += size
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return sum
}
