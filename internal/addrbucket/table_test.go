package addrbucket

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

var t0 = time.Unix(1e9, 0)

// TestBurstThenOnePerPeriod: a bucket gives its burst at once, then one
// token each period; a refund gives one back; a refilled bucket with no
// payload is not kept.
func TestBurstThenOnePerPeriod(t *testing.T) {
	tb := New[struct{}](3, time.Minute, 10, nil)
	now := t0
	spend := func() {
		t.Helper()
		b := tb.Get("k")
		if w := tb.Wait(b, now); w != 0 {
			t.Fatalf("Wait = %v at +%v, want 0", w, now.Sub(t0))
		}
		tb.Put("k", tb.Spend(b, now), now)
	}
	wait := func(want time.Duration) {
		t.Helper()
		if w := tb.Wait(tb.Get("k"), now); w != want {
			t.Fatalf("Wait = %v at +%v, want %v", w, now.Sub(t0), want)
		}
	}
	spend()
	spend()
	spend()
	wait(time.Minute)
	now = now.Add(20 * time.Second)
	wait(40 * time.Second)
	now = now.Add(40 * time.Second)
	spend()
	wait(time.Minute)
	tb.Put("k", tb.Refund(tb.Get("k")), now)
	spend()
	now = now.Add(time.Hour)
	tb.Put("k", tb.Refund(tb.Get("k")), now)
	if n := tb.Len(); n != 0 {
		t.Fatalf("Len = %d with only a refilled bucket, want 0", n)
	}
}

// TestRefilledGoFirst: a new key in a full table forgets the refilled
// buckets first, and others only while the table is fuller than three
// quarters; the payloads forgotten are told.
func TestRefilledGoFirst(t *testing.T) {
	var told int
	tb := New(1, time.Minute, 100, func(p int) { told += p })
	for i := range 30 { // refilled by the time the table is full
		tb.Put(fmt.Sprintf("old%d", i), tb.Spend(Bucket[int]{Payload: 1}, t0), t0)
	}
	now := t0.Add(time.Hour)
	for i := range 70 {
		tb.Put(fmt.Sprintf("new%d", i), tb.Spend(Bucket[int]{Payload: 100}, now), now)
	}
	tb.Put("newest", tb.Spend(Bucket[int]{}, now), now)
	if n := tb.Len(); n != 71 {
		t.Fatalf("Len = %d, want 71: the 30 refilled forgotten, nothing else", n)
	}
	if told != 30 {
		t.Fatalf("payloads told = %d, want 30 (the refilled ones')", told)
	}
	for i := range 1000 {
		tb.Put(fmt.Sprintf("stranger%d", i), tb.Spend(Bucket[int]{Payload: 1}, now), now)
		if n := tb.Len(); n > 100 {
			t.Fatalf("Len = %d after %d strangers, bound 100", n, i+1)
		}
	}
	held := 0
	for _, b := range tb.buckets {
		held += b.Payload
	}
	if want := 30 + 70*100 + 1000; told+held != want {
		t.Fatalf("told %d + held %d payloads, want %d", told, held, want)
	}
}

// TestHugeBurst: a burst whose slack overflows a Duration is unlimited.
func TestHugeBurst(t *testing.T) {
	tb := New[struct{}](1<<30, 10*time.Second, 10, nil)
	b := tb.Get("k")
	for range 1000 {
		b = tb.Spend(b, t0)
	}
	if w := tb.Wait(b, t0); w != 0 {
		t.Fatalf("Wait = %v after 1000 of a burst of 2^30", w)
	}
}

// TestMemoryStaysBounded: a flood of strangers, each a new key, costs a
// full table no more memory after 32 times max keys than after the first
// max: the room of the keys forgotten is given back.
func TestMemoryStaysBounded(t *testing.T) {
	const max = 4096
	keys := make([]string, 32*max) // the callers' strings exist anyway: not counted
	for i := range keys {
		keys[i] = fmt.Sprintf("2001:db8:%x::/64", i)
	}
	heap := func() int64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	before := heap()
	tb := New[struct{}](1, time.Minute, max, nil)
	put := func(keys []string) int64 {
		for _, k := range keys {
			tb.Put(k, tb.Spend(tb.Get(k), t0), t0)
		}
		n := heap() - before
		runtime.KeepAlive(tb)
		return n
	}
	first := put(keys[:max])
	all := put(keys[max:])
	if all > first*3/2 {
		t.Errorf("%d bytes after %d strangers, %d after the first %d (the table's bound)", all, len(keys), first, max)
	}
	runtime.KeepAlive(keys)
}
