package password

import (
	"runtime"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// A Hasher made while the process runs on one P (the master starts on one,
// internal/procpolicy, and an idle master stays there) still hashes on
// every CPU (up to defaultConcurrency) once GOMAXPROCS goes back up: its
// concurrency is not fixed at 1 for the process's life.
func TestHasherMadeOnOnePUsesEveryCPU(t *testing.T) {
	testkit.OnOneP(t)
	h, err := NewHasher(Params{Memory: 8, Time: 1, Threads: 1}, 0)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GOMAXPROCS(runtime.NumCPU())
	for i := range defaultConcurrency() {
		select {
		case h.slots <- struct{}{}:
		default:
			t.Fatalf("only %d hashes at once on %d CPUs", i, runtime.NumCPU())
		}
	}
	select {
	case h.slots <- struct{}{}:
		t.Fatalf("more than %d hashes at once", defaultConcurrency())
	default:
	}
}

// However many CPUs the host has (a container's CPU limit is not among
// them), at most 4 hashes of 19 MiB run at once.
func TestConcurrencyBounded(t *testing.T) {
	for cpus, want := range map[int]int{1: 1, 2: 2, 4: 4, 96: 4} {
		if got := concurrencyOn(cpus); got != want {
			t.Errorf("%d CPUs: %d hashes at once, want %d", cpus, got, want)
		}
	}
}
