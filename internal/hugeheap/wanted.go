package hugeheap

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

const (
	// modeFile holds the kernel's transparent huge page mode.
	modeFile = "/sys/kernel/mm/transparent_hugepage/enabled"
	// overcommitFile holds the kernel's overcommit policy
	// (vm.overcommit_memory).
	overcommitFile = "/proc/sys/vm/overcommit_memory"
)

// Wanted says whether this process may grow its heap into memory it
// advises MADV_HUGEPAGE: the one decision for Prepare and for
// internal/state's restore preparation. Yes only on Linux in THP mode
// "madvise" (in "always" the heap has huge pages without asking, in
// "never" it cannot have them), when GODEBUG does not turn disablethp on
// (read as the runtime reads it: the last setting that is a 32-bit
// number, nonzero for on; the go command of Go 1.26 accepts no built-in
// default for it), and when the kernel does not commit memory strictly
// (vm.overcommit_memory=2: the memory prepared and never used would count
// against the commit limit). It reads the environment and the kernel's
// files at each call. why says why not; err says what could not be read
// (ok is then false).
func Wanted() (ok bool, why string, err error) {
	if runtime.GOOS != "linux" {
		return false, "transparent huge pages are Linux's", nil
	}
	mode, err := os.ReadFile(modeFile)
	if err != nil {
		return false, "", fmt.Errorf("transparent huge page mode: %w", err)
	}
	overcommit, err := os.ReadFile(overcommitFile)
	if err != nil {
		return false, "", fmt.Errorf("overcommit policy: %w", err)
	}
	return decide(inputs{
		godebug:    os.Getenv("GODEBUG"),
		mode:       string(mode),
		overcommit: string(overcommit),
	})
}

// inputs are what Wanted decides from.
type inputs struct {
	godebug    string // GODEBUG in the environment
	mode       string // the text of modeFile
	overcommit string // the text of overcommitFile
}

// decide is Wanted's decision from its inputs.
func decide(in inputs) (ok bool, why string, err error) {
	if disablethp(in.godebug) {
		return false, "off (GODEBUG disablethp)", nil
	}
	mode, err := ParseMode(in.mode)
	if err != nil {
		return false, "", fmt.Errorf("%s: %w", modeFile, err)
	}
	if mode != Madvise {
		return false, "nothing to ask for in mode " + mode.String(), nil
	}
	switch strings.TrimSpace(in.overcommit) {
	case "0", "1":
		return true, "", nil
	case "2":
		return false, "strict overcommit (vm.overcommit_memory=2)", nil
	}
	return false, "", fmt.Errorf("%s: cannot read %q", overcommitFile, in.overcommit)
}

// disablethp says whether the runtime's disablethp setting is on after
// godebug (GODEBUG's value), read left to right as the runtime reads it: a
// key=value whose value is a 32-bit number overrides the one before (other
// values are ignored); nonzero is on.
func disablethp(godebug string) bool {
	var n int64
	for _, kv := range strings.Split(godebug, ",") {
		if k, v, _ := strings.Cut(kv, "="); k == "disablethp" {
			if m, err := strconv.ParseInt(v, 10, 32); err == nil {
				n = m
			}
		}
	}
	return n != 0
}
