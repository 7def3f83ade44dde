package state

import (
	"runtime/debug"
	"sync"
)

// restoreGC turns the garbage collector off while snapshots are restored:
// a restore builds a heap from nothing (1.4 GiB for 1M changes and 100k
// builds) and, with the default GOGC, the collector marks it again at every
// doubling, a quarter of the restore's CPU, to free the little a restore
// throws away (a fifth of what it allocates). GOMEMLIMIT, when set, still
// holds: the collector runs when the heap reaches it.
//
// It is the one package-level variable of the state because the setting
// it guards is the process's: restores that overlap (tests) count, and the
// last to end puts back the percent the first found.
var restoreGC gcPause

type gcPause struct {
	mu      sync.Mutex
	n       int
	percent int
}

// begin turns the collector off until the matching end.
func (g *gcPause) begin() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n == 0 {
		g.percent = debug.SetGCPercent(-1)
	}
	g.n++
}

// end puts the collector back when no other restore runs.
func (g *gcPause) end() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.n == 0 {
		debug.SetGCPercent(g.percent)
	}
}
