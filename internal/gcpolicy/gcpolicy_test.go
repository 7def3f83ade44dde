package gcpolicy

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

func TestPercent(t *testing.T) {
	p := Default()
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 400},
		{1 << 20, 400},
		{9 << 20, 400}, // grows by 36 MiB, where Go's default grows by 9
		{16 << 20, 400},
		{32 << 20, 200},
		{64 << 20, 100},
		{128 << 20, 50},
		{200 << 20, 32},
		{256 << 20, 25},
		{1 << 30, 25},
	} {
		if got := p.Percent(c.live); got != c.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

func TestRelease(t *testing.T) {
	p := Default()
	for _, c := range []struct {
		free, live uint64
		since      time.Duration
		want       bool
	}{
		{free: 10 << 20, live: 100 << 20, since: time.Hour, want: false},
		{free: 100 << 20, live: 100 << 20, since: time.Hour, want: true}, // grows into 64 MiB
		{free: 100 << 20, live: 100 << 20, since: time.Second, want: false},
		{free: 100 << 20, live: 400 << 20, since: time.Hour, want: false}, // grows into 100 MiB
		{free: 120 << 20, live: 400 << 20, since: time.Hour, want: true},
		{free: 70 << 20, live: 30 << 20, since: time.Hour, want: false}, // GOGC 213: grows into 64 MiB
		{free: 90 << 20, live: 30 << 20, since: time.Hour, want: true},
	} {
		if got := p.release(c.free, c.live, p.Percent(c.live), c.since); got != c.want {
			t.Errorf("release(free %d MiB, live %d MiB, %v after the last) = %v, want %v", c.free>>20, c.live>>20, c.since, got, c.want)
		}
	}
}

// gogc reads the collector's current GOGC.
func gogc() int {
	s := []metrics.Sample{{Name: metricGOGC}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// With a live heap several times the headroom, the collection after Start
// lowers GOGC to the policy's floor, and stopping leaves it be; with the
// heap gone, GOGC goes back up. GOGC set in the environment turns it off.
func TestStartFollowsTheLiveHeap(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	p := Policy{Headroom: 4 << 20, MinPercent: 20, MaxPercent: 90, ReleaseEvery: time.Hour}
	live := make([][]byte, 64)
	for i := range live {
		live[i] = make([]byte, 1<<20) // 64 MiB: 4 MiB is 6%, below the floor
	}
	stop := Start(p, nil)
	testkit.Eventually(t, "GOGC at the floor of 20 with 64 MiB live", func() bool {
		runtime.GC()
		return gogc() == 20
	})
	runtime.KeepAlive(live)
	live = nil
	testkit.Eventually(t, "GOGC back at the ceiling of 90 with the heap gone", func() bool {
		runtime.GC()
		return gogc() == 90
	})
	stop()
	debug.SetGCPercent(100)
	runtime.GC()
	runtime.GC()
	if g := gogc(); g != 100 {
		t.Errorf("GOGC %d after stop, want it left at 100", g)
	}
}

func TestStartLeavesGOGCFromTheEnvironment(t *testing.T) {
	t.Setenv("GOGC", "100")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	stop := Start(Policy{Headroom: 1, MinPercent: 5, MaxPercent: 5}, nil)
	defer stop()
	for range 3 {
		runtime.GC()
	}
	if g := gogc(); g != 100 {
		t.Errorf("GOGC %d, want the environment's 100", g)
	}
}

// While the collector is off (a snapshot restore), the policy leaves it
// off.
func TestApplyLeavesTheCollectorOff(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	Policy{Headroom: 1, MinPercent: 5, MaxPercent: 5}.apply(slog.New(slog.DiscardHandler), 0)
	if g := gogc(); g != -1 {
		t.Errorf("GOGC %d, want the collector left off (-1)", g)
	}
}
