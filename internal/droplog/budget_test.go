package droplog

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSharedBudgetDoesNotSpendASourcesOwn: while the shared budget is
// spent by a flood from many addresses, a new source's refusals are
// dropped; once the shared budget refills, its next refusal is logged and
// counts them (its own budget was not spent on lines nobody saw).
func TestSharedBudgetDoesNotSpendASourcesOwn(t *testing.T) {
	l, buf, c := newLog(Options{})
	for i := range 1000 {
		l.Refused(fmt.Sprintf("10.0.%d.%d:1", i/256, i%256), "refused")
	}
	for range DefaultSourceBurst {
		if l.Refused("192.0.2.7:1", "refused") {
			t.Fatal("logged though the shared budget is spent")
		}
	}
	buf.Reset()
	c.t = c.t.Add(time.Second) // the shared budget refills by DefaultRate
	if !l.Refused("192.0.2.7:1", "refused") {
		t.Fatal("the source's first line is dropped once the shared budget refilled: its own budget was spent on dropped lines")
	}
	if got := buf.String(); !strings.Contains(got, fmt.Sprintf("not_logged_before=%d", DefaultSourceBurst)) {
		t.Fatalf("line = %q; want not_logged_before=%d", got, DefaultSourceBurst)
	}
}

// TestNotLoggedBeforeIsExactUnderConcurrency: refusals from one source on
// many goroutines are each either logged or counted once.
func TestNotLoggedBeforeIsExactUnderConcurrency(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1e9, 0)
	var buf syncBuf
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	var wg sync.WaitGroup
	var logged sync.Map
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				if l.Refused("192.0.2.1:1", "refused") {
					logged.Store(g*1000+i, true)
				}
			}
		})
	}
	wg.Wait()
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	l.Refused("192.0.2.1:1", "refused")
	if got := buf.String(); !strings.Contains(got, fmt.Sprintf("not_logged_before=%d", 8000-DefaultSourceBurst)) {
		t.Fatalf("last lines %q; want not_logged_before=%d", got[max(0, len(got)-200):], 8000-DefaultSourceBurst)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestSourcesAreBoundedUnder100kAddresses: 100,000 distinct IPv4 and
// 100,000 distinct IPv6 /64 sources leave at most MaxSources remembered.
func TestSourcesAreBoundedUnder100kAddresses(t *testing.T) {
	l, _, _ := newLog(Options{})
	v4 := netip.MustParseAddr("10.0.0.0")
	v6 := netip.MustParsePrefix("2001:db8::/32").Addr().As16()
	for i := range 100_000 {
		l.Refused(netip.AddrPortFrom(v4, 1).String(), "refused")
		v4 = v4.Next()
		a := v6
		a[6], a[7] = byte(i>>8), byte(i)
		a[5] = byte(i >> 16)
		l.Refused(netip.AddrPortFrom(netip.AddrFrom16(a), 1).String(), "refused")
		if n := l.Sources(); n > DefaultMaxSources {
			t.Fatalf("%d sources after %d addresses, want at most %d", n, i, DefaultMaxSources)
		}
	}
}

// BenchmarkRefusedNewSourceFullTable: the cost of a refusal from a new
// address once the table is full (a flood from many addresses).
func BenchmarkRefusedNewSourceFullTable(b *testing.B) {
	l := New(nil, Options{})
	addrs := make([]string, 1<<17)
	a := netip.MustParseAddr("10.0.0.0")
	for i := range addrs {
		addrs[i] = netip.AddrPortFrom(a, 1).String()
		a = a.Next()
	}
	for i := range 2 * DefaultMaxSources {
		l.Refused(addrs[i], "refused")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		l.Refused(addrs[(i+2*DefaultMaxSources)%len(addrs)], "refused")
	}
}

// BenchmarkRefusedKnownSource: one source's flood, its budget spent.
func BenchmarkRefusedKnownSource(b *testing.B) {
	l := New(nil, Options{})
	b.ReportAllocs()
	for b.Loop() {
		l.Refused("192.0.2.1:4000", "refused")
	}
}

// blockingHandler blocks its first record until release is closed; it
// has no lock of its own (slog.TextHandler serialises its writes).
type blockingHandler struct {
	once    *sync.Once
	entered chan struct{}
	release chan struct{}
}

func (h blockingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h blockingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h blockingHandler) WithGroup(string) slog.Handler            { return h }
func (h blockingHandler) Handle(context.Context, slog.Record) error {
	first := false
	h.once.Do(func() { first = true })
	if first {
		close(h.entered)
		<-h.release
	}
	return nil
}

// TestSlowWriterDoesNotSerialiseRefusals: while one line is being written
// (a slow log), another source's refusal is decided and handed on.
func TestSlowWriterDoesNotSerialiseRefusals(t *testing.T) {
	h := blockingHandler{once: &sync.Once{}, entered: make(chan struct{}), release: make(chan struct{})}
	l := New(slog.New(h), Options{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Refused("192.0.2.1:1", "refused")
	}()
	<-h.entered
	if !l.Refused("192.0.2.2:1", "refused") { // would block forever if the lock were held while writing
		t.Error("a second source's refusal was not logged")
	}
	close(h.release)
	<-done
}
