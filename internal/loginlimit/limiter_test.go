package loginlimit

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newLimiter(o Options) (*Limiter, *clock) {
	c := &clock{t: time.Unix(1e9, 0)}
	o.Now = c.now
	return New(o), c
}

// step is one event of a scenario: time passing, then an attempt (what
// Attempt says) and its result.
type step struct {
	after      time.Duration
	user, addr string
	ok         bool          // the login's result
	allowed    bool          // what Attempt must say
	wait       time.Duration // and its wait when refused
}

func run(t *testing.T, l *Limiter, c *clock, steps []step) {
	t.Helper()
	for i, s := range steps {
		c.add(s.after)
		ok, wait := l.Attempt(s.user, s.addr)
		if ok != s.allowed || (!ok && wait != s.wait) {
			t.Fatalf("step %d (%s from %s): Attempt = %v, %v; want %v, %v", i, s.user, s.addr, ok, wait, s.allowed, s.wait)
		}
		if ok && s.ok {
			l.Succeeded(s.user, s.addr)
		}
	}
}

func TestLimiter(t *testing.T) {
	const a, b = "192.0.2.1:5000", "192.0.2.2:5000"
	for _, tc := range []struct {
		name  string
		o     Options
		steps []step
	}{
		{"burst then one per period", Options{UserBurst: 3, UserEvery: time.Minute}, []step{
			{0, "alice", a, false, true, 0},
			{0, "alice", a, false, true, 0},
			{0, "alice", a, false, true, 0},
			{0, "alice", a, false, false, time.Minute},
			{20 * time.Second, "alice", a, false, false, 40 * time.Second},
			{40 * time.Second, "alice", a, false, true, 0},
			{0, "alice", a, false, false, time.Minute},
		}},
		{"refills completely", Options{UserBurst: 2, UserEvery: time.Minute}, []step{
			{0, "alice", a, false, true, 0},
			{0, "alice", a, false, true, 0},
			{10 * time.Minute, "alice", a, false, true, 0},
			{0, "alice", a, false, true, 0},
			{0, "alice", a, false, false, time.Minute},
		}},
		{"other user, other address unaffected", Options{UserBurst: 1, UserEvery: time.Minute}, []step{
			{0, "alice", a, false, true, 0},
			{0, "alice", a, false, false, time.Minute},
			{0, "bob", a, false, true, 0},
			{0, "alice", b, false, true, 0},
		}},
		{"the port does not make another address", Options{UserBurst: 1, UserEvery: time.Minute}, []step{
			{0, "alice", "192.0.2.1:1", false, true, 0},
			{0, "alice", "192.0.2.1:2", false, false, time.Minute},
			{0, "alice", "192.0.2.1", false, false, time.Minute},
			{0, "alice", "[::ffff:192.0.2.1]:3", false, false, time.Minute},
		}},
		{"one IPv6 /64 is one address", Options{UserBurst: 1, UserEvery: time.Minute}, []step{
			{0, "alice", "[2001:db8:1:2::1]:1", false, true, 0},
			{0, "alice", "[2001:db8:1:2:ffff::9]:1", false, false, time.Minute},
			{0, "alice", "[2001:db8:1:3::1]:1", false, true, 0},
		}},
		{"address limit across users", Options{AddrBurst: 3, AddrEvery: 10 * time.Second}, []step{
			{0, "u1", a, false, true, 0},
			{0, "u2", a, false, true, 0},
			{0, "u3", a, false, true, 0},
			{0, "u4", a, false, false, 10 * time.Second},
			{0, "u4", b, false, true, 0},
			{10 * time.Second, "u4", a, false, true, 0},
		}},
		{"success forgets the user's failures, not the address's", Options{UserBurst: 2, AddrBurst: 4, AddrEvery: time.Hour}, []step{
			{0, "alice", a, false, true, 0},
			{0, "alice", a, false, true, 0},
			{0, "alice", a, true, false, time.Minute},
			{time.Minute, "alice", a, true, true, 0}, // succeeds: costs the address nothing
			{0, "alice", a, true, true, 0},           // again
			{0, "alice", a, false, true, 0},
			{0, "alice", a, false, true, 0},
			{0, "alice", a, false, false, 59 * time.Minute}, // the address has failed 4 times in all
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, c := newLimiter(tc.o)
			run(t, l, c, tc.steps)
		})
	}
}

// TestBounded: strangers cannot grow the tables past MaxEntries (that
// refilled entries go first is addrbucket's TestRefilledGoFirst).
func TestBounded(t *testing.T) {
	l, c := newLimiter(Options{MaxEntries: 100, UserBurst: 1, UserEvery: time.Minute, AddrEvery: time.Minute})
	// A known attacker, failing now.
	l.Attempt("alice", "198.51.100.1")
	c.add(2 * time.Minute) // its entries have refilled: first to go
	for i := range 1000 {
		l.Attempt(fmt.Sprintf("u%d", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		if u, a := l.Len(); u > 100 || a > 100 {
			t.Fatalf("after %d strangers: %d user and %d address entries, bound 100", i+1, u, a)
		}
	}
	// The newest stranger is still limited.
	if ok, _ := l.Attempt("u999", "10.0.3.231"); ok {
		t.Error("the last stranger is not limited")
	}
}

// TestMemoryPerStranger measures what 10,000 strangers, each failing once
// against another user name, cost the Limiter.
func TestMemoryPerStranger(t *testing.T) {
	const n = 10_000
	keep := make([]string, 2*n) // the callers' strings exist anyway: not counted
	for i := range n {
		keep[2*i], keep[2*i+1] = fmt.Sprintf("user-%06d", i), fmt.Sprintf("203.0.%d.%d:%d", i/256, i%256, 40000+i%20000)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l, _ := newLimiter(Options{})
	for i := range n {
		l.Attempt(keep[2*i], keep[2*i+1])
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%d strangers: %.0f bytes each, %.1f MB in all", n, per, per*n/1e6)
	if per > 250 {
		t.Errorf("%.0f bytes per stranger, more than twice what the package doc says", per)
	}
	runtime.KeepAlive(l)
}

// TestLongUserNames: a stranger chooses the user name (a web login's
// form takes 10 MB), not what the Limiter keeps for it: its address's
// burst of attempts under 1 MB names costs the Limiter what short names
// would.
func TestLongUserNames(t *testing.T) {
	names := make([]string, DefaultAddrBurst) // the callers' strings exist anyway: not counted
	for i := range names {
		names[i] = fmt.Sprint(i) + strings.Repeat("x", 1<<20)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l, _ := newLimiter(Options{})
	for _, name := range names {
		if ok, _ := l.Attempt(name, "203.0.113.1:40000"); !ok {
			t.Fatal("refused within the address's burst")
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := int64(after.HeapAlloc) - int64(before.HeapAlloc); n > 100<<10 {
		t.Errorf("%d attempts under 1 MB user names hold %d bytes", len(names), n)
	}
	if ok, _ := l.Attempt(names[0], "203.0.113.1:40000"); ok {
		t.Error("the address's burst was not spent")
	}
	runtime.KeepAlive(names)
}

// TestParallelAttempts: attempts whose results are not in yet count, so
// a flood of parallel guesses gets no more than the burst.
func TestParallelAttempts(t *testing.T) {
	l, _ := newLimiter(Options{UserBurst: 5})
	var wg sync.WaitGroup
	var allowed atomic.Int32
	for range 100 {
		wg.Go(func() {
			if ok, _ := l.Attempt("alice", "192.0.2.1:1"); ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 5 {
		t.Errorf("%d of 100 parallel attempts allowed, want 5", n)
	}
}
