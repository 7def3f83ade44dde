package iradix

import (
	"bytes"
	"math/rand"
	"testing"
)

// TestFirstLastPrefix checks FirstPrefix and LastPrefix against an
// iterator and a reverse iterator seeked to the same prefix, on random
// trees, and that they allocate nothing.
func TestFirstLastPrefix(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 200; round++ {
		r := New()
		for i := rng.Intn(300); i > 0; i-- {
			k := make([]byte, 1+rng.Intn(4))
			for j := range k {
				k[j] = byte('a' + rng.Intn(3))
			}
			r, _, _ = r.Insert(k, string(k))
		}
		for i := 0; i < 50; i++ {
			prefix := make([]byte, rng.Intn(4))
			for j := range prefix {
				prefix[j] = byte('a' + rng.Intn(4))
			}
			it := r.Root().Iterator()
			it.SeekPrefix(prefix)
			wantK, wantV, wantOK := it.Next()
			k, v, ok := r.Root().FirstPrefix(prefix)
			if !bytes.Equal(k, wantK) || v != wantV || ok != wantOK {
				t.Fatalf("FirstPrefix(%q) = %q %v %v, want %q %v %v", prefix, k, v, ok, wantK, wantV, wantOK)
			}
			rit := r.Root().ReverseIterator()
			rit.SeekPrefix(prefix)
			wantK, wantV, wantOK = rit.Previous()
			k, v, ok = r.Root().LastPrefix(prefix)
			if !bytes.Equal(k, wantK) || v != wantV || ok != wantOK {
				t.Fatalf("LastPrefix(%q) = %q %v %v, want %q %v %v", prefix, k, v, ok, wantK, wantV, wantOK)
			}
		}
		if allocs := testing.AllocsPerRun(10, func() {
			r.Root().FirstPrefix([]byte("a"))
			r.Root().LastPrefix([]byte("b"))
		}); allocs != 0 {
			t.Fatalf("FirstPrefix and LastPrefix allocate %v times", allocs)
		}
	}
}
