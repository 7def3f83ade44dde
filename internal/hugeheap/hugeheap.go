// Package hugeheap backs the heap a master grows into after its start
// with transparent huge pages. A fresh master's heap grows by about 64 MiB
// (gcpolicy's headroom) before its first real collection, and every 4 KiB
// page of it is a page fault the first time the master touches it: ~25-30
// a build over the first ~500 builds, 96% of a cold master's faults. On
// the VM the project is measured on (Firecracker under PVM) a first touch
// costs ~12 µs of CPU: first-touching 64 MiB took 190-240 ms in 16,384
// faults with 4 KiB pages, 4-5 ms in 32 faults with 2 MiB huge pages.
//
// Linux gives a process huge pages only where it asks for them (THP mode
// "madvise", the common default) and Go's runtime no longer asks for its
// heap; it maps the heap as it grows, 4 MiB or more at a time, each
// mapping new (MAP_FIXED over its reservation), so that advice given to
// the heap's mappings at start would not reach the memory it grows into.
// Prepare therefore grows the heap itself, by size bytes of allocations,
// advises their memory MADV_HUGEPAGE and gives it back to the runtime (a
// collection and a hand-back to the system: none of it stays resident).
// The runtime hands out its lowest free pages first, so the heap grows
// into that memory, and the kernel faults it in 2 MiB at a time. The
// advice stays on those mappings for the life of the process (the
// runtime hands free memory back with MADV_DONTNEED, which keeps it; it
// does not map them again); the heap's growth past them is in new
// mappings, 4 KiB pages again. A snapshot restore at start
// (internal/state) prepares its own memory, from the same free pages, and
// takes its own advice back when it is done, leaving Prepare's.
//
// The trade-off is memory: resident memory grows in 2 MiB steps, and the
// kernel's khugepaged may fill a 2 MiB range the runtime handed partly
// back, so the heap's resident size in the prepared memory tends to its
// high-water mark, at most size bytes. Measured: a master's start holds
// 0-2 MiB more (28.0-28.9 -> 28.3-30.4 MiB RSS: it fits in the heap it
// had), a master after 800 builds 5-6 MiB more (62-63 -> 68-69 MiB), after
// 1,000 builds 1-4 MiB more (68-71 -> 72 MiB).
//
// Nothing depends on it for correctness. Wanted decides, for Prepare and
// for internal/state's restore preparation, whether to ask at all: not
// where huge pages are not on offer on request (another OS, THP mode
// "always", which needs nothing, or "never", where nothing is possible),
// not where GODEBUG turns disablethp on (Go's own switch to keep the heap
// off huge pages, in the environment or built into the binary), and not
// under strict overcommit (vm.overcommit_memory=2), where memory the heap
// is grown by and never uses would count against the commit limit. There
// Prepare does nothing; a refusal is logged once (it runs once) and
// ignored.
package hugeheap

import (
	"fmt"
	"strings"
)

// Mode is the kernel's transparent huge page mode for anonymous memory.
type Mode int

// Modes of /sys/kernel/mm/transparent_hugepage/enabled.
const (
	// Always backs all anonymous memory with huge pages where it can.
	Always Mode = iota + 1
	// Madvise backs only memory advised MADV_HUGEPAGE.
	Madvise
	// Never backs none.
	Never
)

// String is the mode's name in the kernel's file.
func (m Mode) String() string {
	switch m {
	case Always:
		return "always"
	case Madvise:
		return "madvise"
	case Never:
		return "never"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads the mode out of the text of
// /sys/kernel/mm/transparent_hugepage/enabled, where the kernel lists the
// modes and brackets the one in force ("always [madvise] never").
func ParseMode(text string) (Mode, error) {
	var found Mode
	for _, f := range strings.Fields(text) {
		name, ok := strings.CutPrefix(f, "[")
		if !ok {
			continue
		}
		name, ok = strings.CutSuffix(name, "]")
		if !ok || found != 0 {
			return 0, fmt.Errorf("transparent huge page mode: cannot read %q", text)
		}
		for _, m := range []Mode{Always, Madvise, Never} {
			if m.String() == name {
				found = m
			}
		}
		if found == 0 {
			return 0, fmt.Errorf("transparent huge page mode: unknown mode %q in %q", name, text)
		}
	}
	if found == 0 {
		return 0, fmt.Errorf("transparent huge page mode: none in force in %q", text)
	}
	return found, nil
}
