package password

import (
	"context"
	"runtime"
	"testing"
)

// allocated is how many bytes f allocates (the package's tests do not run
// in parallel: nothing else allocates meanwhile but the runtime).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestNewHasherRunsNoArgon2: making a Hasher runs no argon2id (it would
// allocate p.Memory: 19 MiB of fresh pages and 43 ms of CPU at every
// master start), yet a missing user's Verify still does the work of a
// real hash under the Hasher's parameters, and its dummy is one that no
// password matches, the empty one included.
func TestNewHasherRunsNoArgon2(t *testing.T) {
	const memory = 32 << 10 // KiB
	p := Params{Memory: memory, Time: 1}
	var h *Hasher
	if n := allocated(func() { h = newHasher(t, p) }); n >= memory<<10/4 {
		t.Errorf("NewHasher allocated %d bytes: it ran argon2id (m=%d KiB)", n, memory)
	}
	dp, _, key, err := parsePHC(h.dummy)
	if err != nil || dp.Memory != h.p.Memory || dp.Time != h.p.Time || dp.Threads != h.p.Threads || uint32(len(key)) != h.p.KeyLen {
		t.Errorf("dummy %q = %+v, key %d bytes, %v; want the Hasher's %+v", h.dummy, dp, len(key), err, h.p)
	}
	if h.NeedsRehash(h.dummy) {
		t.Error("the dummy needs a rehash: it is weaker than the Hasher's own hashes")
	}
	for _, pw := range []string{"", "pw"} {
		var ok bool
		if n := allocated(func() { ok, err = h.Verify(context.Background(), "", pw) }); n < memory<<10 {
			t.Errorf("Verify of a missing user allocated %d bytes: no argon2id under m=%d KiB", n, memory)
		}
		if ok || err != nil {
			t.Errorf("Verify(missing user, %q) = %v, %v; want false, nil", pw, ok, err)
		}
		if ok, err := h.verify(context.Background(), h.dummy, pw); ok || err != nil {
			t.Errorf("the dummy matches %q (%v, %v)", pw, ok, err)
		}
	}
}
