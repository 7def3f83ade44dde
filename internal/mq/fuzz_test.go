package mq

import (
	"strings"
	"testing"
)

// FuzzParseFilter: any path either parses to a filter that writes back as
// itself, or is refused with an error; a parsed filter and the index agree
// on whether it matches a key made from the same path.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"builds/*/*", "builds/12/finished", "*", "", "a//b", "builds/", "x/\xff", "a/b/c/d/e/f/g/h/i", "*/*/*/*/*/*/*/*", `"/\`} {
		f.Add(s, "builds/12/finished")
	}
	f.Fuzz(func(t *testing.T, path, keyPath string) {
		flt, err := ParseFilter(path)
		if err != nil {
			return
		}
		if flt.String() != path || flt.Check() != nil {
			t.Fatalf("%q parsed to %q", path, flt)
		}
		k := Key(strings.Split(keyPath, "/"))
		if k.Check() != nil {
			return
		}
		b := New()
		s := b.Subscribe(t.Context(), 1)
		if _, err := s.Add(flt); err != nil {
			t.Fatal(err)
		}
		if err := b.Publish(k, "", []byte("0")); err != nil {
			t.Fatal(err)
		}
		if got, want := len(s.Take(nil)) == 1, flt.Match(k); got != want {
			t.Fatalf("filter %q, key %q: index %v, Match %v", path, keyPath, got, want)
		}
		s.Close()
		if b.root.n != 0 || len(b.root.lit) != 0 || b.root.any != nil {
			t.Fatalf("index not empty after Close: %+v", b.root)
		}
	})
}

// FuzzIndex drives adds, removes and publishes from the input bytes and
// checks every delivery against Filter.Match.
func FuzzIndex(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte("\x00\x11\x22\x33\x02\x10\x44\x55"))
	segs := []string{Wildcard, "builds", "1", "new", "steps"}
	f.Fuzz(func(t *testing.T, ops []byte) {
		b := New()
		subs := []*Subscription{b.Subscribe(t.Context(), 1), b.Subscribe(t.Context(), 1), b.Subscribe(t.Context(), 1)}
		have := make([]map[string]Filter, len(subs))
		for i := range have {
			have[i] = map[string]Filter{}
		}
		for len(ops) >= 2 {
			op, arg := ops[0], ops[1]
			ops = ops[2:]
			n := 1 + int(arg>>6)
			flt := make(Filter, n)
			for i := range flt {
				flt[i] = segs[(int(arg)>>i+int(op>>4))%len(segs)]
			}
			si := int(op) % len(subs)
			switch (op >> 2) % 3 {
			case 0:
				if _, err := subs[si].Add(flt); err != nil {
					t.Fatal(err)
				}
				have[si][flt.String()] = flt
			case 1:
				subs[si].Remove(flt)
				delete(have[si], flt.String())
			case 2:
				k := Key(flt)
				for i := range k {
					if k[i] == Wildcard {
						k[i] = "2"
					}
				}
				if err := b.Publish(k, "", []byte("0")); err != nil {
					t.Fatal(err)
				}
				for i, s := range subs {
					want := false
					for _, f := range have[i] {
						want = want || f.Match(k)
					}
					got := len(s.Take(nil)) == 1
					if got != want {
						t.Fatalf("subscriber %d with %v, key %s: got %v, want %v", i, have[i], k, got, want)
					}
				}
			}
		}
	})
}
