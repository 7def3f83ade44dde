package cache

import (
	"fmt"
	"testing"
)

func TestGetAddVersions(t *testing.T) {
	c := NewSet().Cache(Builds)
	v1, v2 := new(int), new(int)
	k := Key{Kind: "builds", ID: 1}
	if _, ok := c.Get(k, v1); ok {
		t.Fatal("hit in an empty cache")
	}
	c.Add(k, v1, []byte("one"))
	if b, ok := c.Get(k, v1); !ok || string(b) != "one" {
		t.Fatalf("Get after Add: %q %v", b, ok)
	}
	if _, ok := c.Get(k, v2); ok {
		t.Fatal("hit for another version of the row")
	}
	if _, ok := c.Get(Key{Kind: "buildsets", ID: 1}, v1); ok {
		t.Fatal("hit for another kind with the same id")
	}
	c.Add(k, v2, []byte("two"))
	if b, ok := c.Get(k, v2); !ok || string(b) != "two" {
		t.Fatalf("Get of the new version: %q %v", b, ok)
	}
	if _, ok := c.Get(k, v1); ok {
		t.Fatal("the old version is still served")
	}
	st := c.stats()
	if st.Hits != 2 || st.Misses != 4 || st.Entries != 1 || st.Evictions != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEvictionAndResize(t *testing.T) {
	s := NewSet()
	s.Resize(map[string]int32{Changes: 3, "Mine": 2})
	c := s.Cache(Changes)
	v := new(int)
	for i := range 5 {
		c.Add(Key{"changes", uint64(i)}, v, []byte{byte(i)})
	}
	c.Get(Key{"changes", 2}, v) // 2 is now the most recently used
	s.Resize(map[string]int32{Changes: 2})
	for i, want := range []bool{false, false, true, false, true} {
		if _, ok := c.Get(Key{"changes", uint64(i)}, v); ok != want {
			t.Errorf("change %d cached: %v, want %v", i, ok, want)
		}
	}
	got := map[string]Stats{}
	for _, st := range s.Stats() {
		got[st.Name] = st
	}
	if st := got[Changes]; st.Size != 2 || st.Entries != 2 || st.Evictions != 3 {
		t.Fatalf("Changes: %+v", st)
	}
	// Mine is no longer configured: back to the default size, still there.
	if st := got["Mine"]; st.Size != 15 {
		t.Fatalf("Mine: %+v", st)
	}
	if st := got[Builds]; st.Size != 100 {
		t.Fatalf("Builds: %+v", st)
	}
	s.Resize(map[string]int32{Builds: 0})
	if st := s.Stats()[0]; st.Name != Builds || st.Size != 1 {
		t.Fatalf("Builds sized 0: %+v", st)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := NewSet()
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			c := s.Cache(Builds)
			for i := range 1000 {
				k := Key{"builds", uint64(i % 40)}
				if _, ok := c.Get(k, g); !ok {
					c.Add(k, g, []byte(fmt.Sprint(i)))
				}
				if i%100 == 0 {
					s.Resize(map[string]int32{Builds: int32(10 + i%7)})
					s.Stats()
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	st := s.Stats()[0]
	if st.Hits+st.Misses != 4000 {
		t.Fatalf("%+v", st)
	}
}
