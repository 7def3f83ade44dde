package hugeheap

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// modeFile holds the kernel's transparent huge page mode.
	modeFile = "/sys/kernel/mm/transparent_hugepage/enabled"
	// hugePage is the size of a transparent huge page (x86-64, and arm64
	// with 4 KiB pages).
	hugePage = 2 << 20
	// chunk is the size of Prepare's allocations. The runtime zeroes an
	// allocation that begins in memory the heap has used before, all of
	// it (4 KiB page faults on memory not yet advised): one allocation of
	// the whole size would begin there whenever the heap's last used pages
	// are free; only chunks that land there are zeroed.
	chunk = 8 << 20
)

// Prepare grows the heap by size bytes (rounded down to 8 MiB) backed by
// transparent huge pages when the kernel's mode is "madvise" and
// GODEBUG does not say disablethp=1 (see the package's doc). It runs a
// collection and hands free memory back to the system: call it once, at
// the start of the process, before the heap holds much. log (nil: none)
// hears at warning level why it could not, at debug level why it need not.
func Prepare(size int64, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if strings.Contains(os.Getenv("GODEBUG"), "disablethp=1") {
		log.Debug("huge pages for the heap: off (GODEBUG=disablethp=1)")
		return
	}
	text, err := os.ReadFile(modeFile)
	if err != nil {
		log.Warn("huge pages for the heap: cannot read the kernel's mode", "error", err)
		return
	}
	mode, err := ParseMode(string(text))
	if err != nil {
		log.Warn("huge pages for the heap", "error", fmt.Errorf("%s: %w", modeFile, err))
		return
	}
	if mode != Madvise {
		log.Debug("huge pages for the heap: nothing to ask for", "mode", mode.String())
		return
	}
	chunks := make([][]byte, size/chunk)
	for i := range chunks {
		chunks[i] = make([]byte, chunk)
	}
	for _, c := range chunks {
		p := uintptr(unsafe.Pointer(unsafe.SliceData(c)))
		beg, end := (p+hugePage-1)&^(hugePage-1), (p+chunk)&^(hugePage-1)
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, beg, end-beg, unix.MADV_HUGEPAGE); errno != 0 {
			log.Warn("huge pages for the heap", "error", fmt.Errorf("madvise(MADV_HUGEPAGE): %w", errno))
			break
		}
	}
	// The chunks, dead from here, go back to the runtime, and their
	// memory, never touched, to the system: the runtime counts it as
	// released, not as resident, and its background scavenger has nothing
	// to hand back.
	debug.FreeOSMemory()
}
