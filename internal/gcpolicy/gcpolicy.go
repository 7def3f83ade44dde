// Package gcpolicy gives a master's heap a fixed headroom past its live
// heap rather than Go's proportional one. With Go's default GOGC=100 the
// collector lets the heap grow to twice what is live before it collects:
// 300 MB more for a master holding the state of 100,000 builds, and only
// 9 MB for one holding 9 MB while it ingests a big log or runs builds, so
// that the collector runs every 9 MB allocated and takes the cores from
// the requests it serves. The policy sets GOGC after every collection so
// that the heap grows by Headroom past the live heap (GOGC between
// MinPercent and MaxPercent), and hands memory the heap no longer uses
// back to the system when a collection leaves more of it than the heap
// grows into before the next (after a snapshot restore, which runs with
// the collector off, or a burst of garbage).
//
// GOGC is the process's, so the policy is started once, by the master's
// command (internal/cli), and not at all when the user set GOGC in the
// environment. GOMEMLIMIT, when set, still holds on top of it. It owns no
// actor and accepts no messages.
package gcpolicy

import (
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Policy is how close the heap goal follows the live heap.
type Policy struct {
	// Headroom is how far past the live heap the heap may grow before the
	// next collection: GOGC is 100×Headroom/live, within MinPercent and
	// MaxPercent.
	Headroom uint64
	// MinPercent and MaxPercent bound GOGC: a large heap still grows by
	// MinPercent between collections (so the collector's CPU stays
	// bounded), a small one by at most MaxPercent (Go's minimum heap
	// goal, 4 MB, scales with GOGC too: a bound keeps it small).
	MinPercent, MaxPercent int
	// ReleaseEvery is the least time between two hand-backs of free
	// memory to the system (each is a collection more).
	ReleaseEvery time.Duration
}

// Default is the master's policy: 64 MiB of headroom, GOGC between 25 and
// 400, free memory handed back at most once a minute. A live heap of L
// grows by min(64 MiB, 4×L) between collections: 36 MiB past 9 MiB live
// (Go's default: 9), all 64 MiB from 16 to 256 MiB live, 25% from 256 MiB.
// 4×L makes a small heap's collections 4 times rarer than Go's default,
// and so their CPU (a cycle's mark work is about the live heap) 4 times
// less, for at most 48 MiB more heap than GOGC 100 (at 16 MiB live); the
// bound keeps an idle master's heap goal, and Go's minimum one (16 MB at
// GOGC 400), small.
func Default() Policy {
	return Policy{Headroom: 64 << 20, MinPercent: 25, MaxPercent: 400, ReleaseEvery: time.Minute}
}

// Percent is the GOGC for a live heap of live bytes.
func (p Policy) Percent(live uint64) int {
	if live == 0 {
		return p.MaxPercent
	}
	return int(min(max(p.Headroom*100/live, uint64(p.MinPercent)), uint64(p.MaxPercent)))
}

// release says whether free bytes of heap that are neither in use nor
// handed back to the system are worth handing back now, for a live heap
// of live bytes under GOGC percent (Percent(live)): more than the heap
// grows into before the next collection (live×percent/100) and 16 MiB,
// and not within ReleaseEvery of the last hand-back.
func (p Policy) release(free, live uint64, percent int, sinceLast time.Duration) bool {
	return free > live*uint64(percent)/100+16<<20 && sinceLast >= p.ReleaseEvery
}

// Start applies p after every collection until stop is called. When the
// environment sets GOGC it does nothing: the user chose. log (nil: none)
// hears of each change of GOGC at debug level.
func Start(p Policy, log *slog.Logger) (stop func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	done := make(chan struct{})
	cycles := make(chan struct{}, 1)
	armCycle(cycles, done)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var last time.Time
		for {
			select {
			case <-done:
				return
			case <-cycles:
			}
			if p.apply(log, time.Since(last)) {
				last = time.Now()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// Metrics the policy reads.
const (
	metricLive = "/gc/heap/live:bytes"
	metricGOGC = "/gc/gogc:percent"
	metricFree = "/memory/classes/heap/free:bytes"
)

// apply sets GOGC for the live heap the last collection left, and hands
// free memory back when release says so (reporting that it did). It
// leaves GOGC alone while the collector is off (a snapshot restore).
func (p Policy) apply(log *slog.Logger, sinceRelease time.Duration) (released bool) {
	s := []metrics.Sample{{Name: metricLive}, {Name: metricGOGC}, {Name: metricFree}}
	metrics.Read(s)
	live, gogc, free := s[0].Value.Uint64(), int(s[1].Value.Uint64()), s[2].Value.Uint64()
	if gogc < 0 {
		return false
	}
	want := p.Percent(live)
	if want != gogc {
		if debug.SetGCPercent(want) < 0 {
			// A restore turned the collector off since the read above:
			// leave it off; the restore puts its own value back.
			debug.SetGCPercent(-1)
			return false
		}
		log.Debug("GOGC set", "percent", want, "live_bytes", live)
	}
	if p.release(free, live, want, sinceRelease) {
		debug.FreeOSMemory()
		return true
	}
	return false
}

// cycle is an object the collector frees at each cycle; its finalizer
// signals the cycle and makes the next one.
type cycle struct{ _ *byte } // a pointer: not a tiny allocation, whose finalizer may never run

// armCycle makes a cycle object whose finalizer, at the next collection,
// signals cycles (dropping the signal when one is pending) and arms the
// next, until done is closed.
func armCycle(cycles chan<- struct{}, done <-chan struct{}) {
	c := &cycle{}
	runtime.SetFinalizer(c, func(*cycle) {
		select {
		case <-done:
			return
		default:
		}
		select {
		case cycles <- struct{}{}:
		default:
		}
		armCycle(cycles, done)
	})
}
