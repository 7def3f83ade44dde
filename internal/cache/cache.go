// Package cache holds the master's named, size-bounded LRU caches (Buildbot's
// CacheManager caches, sized by the `caches` config section) and counts their
// hits, misses and evictions. A Set is made once per master; the caches
// service (actors/caches) resizes it from the config and shows its Stats on
// its tree node and on /metrics, and readers (the data API) Get and Add.
//
// An entry is valid for one version of what it was made from: Get hits only
// when the version given is the one Add stored (== on the values, e.g. the
// pointer of an immutable state row), so a changed row is a miss and never a
// stale answer. Every method is safe for concurrent use.
package cache

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Names of the caches the master reads through, with their default sizes:
// Builds and Changes 100 (two 50-row pages: Buildbot's 15 and 10 are
// smaller than a page, which then never hits), Buildbot's for
// SourceStamps (20), else 15.
const (
	Builds       = "Builds"       // a build as the data API renders it
	Changes      = "Changes"      // a change as the data API renders it
	SourceStamps = "SourceStamps" // a sourcestamp as the data API renders it (alone or in a buildset)
	Properties   = "Properties"   // a build's or buildset's properties as /properties renders them
)

// Key names an entry: the kind of row (a table) and its id.
type Key struct {
	Kind string
	ID   uint64
}

type entry struct {
	version any
	value   []byte
}

// Cache is one named LRU cache of byte values.
type Cache struct {
	name                    string
	lru                     *lru.Cache[Key, entry]
	hits, misses, evictions atomic.Uint64
}

func newCache(name string, size int) *Cache {
	c := &Cache{name: name}
	c.lru, _ = lru.NewWithEvict(size, func(Key, entry) { c.evictions.Add(1) }) // size is at least 1
	return c
}

// Get returns the value stored for key at version, counting a hit, or
// false, counting a miss.
func (c *Cache) Get(key Key, version any) ([]byte, bool) {
	if e, ok := c.lru.Get(key); ok && e.version == version {
		c.hits.Add(1)
		return e.value, true
	}
	c.misses.Add(1)
	return nil, false
}

// Add stores value for key at version, in place of any other version;
// the least recently used entry goes when the cache is full.
func (c *Cache) Add(key Key, version any, value []byte) {
	c.lru.Add(key, entry{version: version, value: value})
}

// Stats are one cache's figures.
type Stats struct {
	Name                    string
	Size, Entries           int
	Hits, Misses, Evictions uint64
}

// stats are c's figures but its size, which the Set keeps (golang-lru
// does not tell it).
func (c *Cache) stats() Stats {
	return Stats{Name: c.name, Entries: c.lru.Len(),
		Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load()}
}

// DefaultSize is the size of the cache called name when the config does
// not size it.
func DefaultSize(name string) int {
	switch name {
	case Builds, Changes:
		return 100
	case SourceStamps:
		return 20
	}
	return 15
}

// Set is the master's caches by name.
type Set struct {
	mu     sync.Mutex
	caches map[string]*Cache
	sizes  map[string]int
}

// NewSet returns the caches the master reads through, empty, at their
// default sizes.
func NewSet() *Set {
	s := &Set{caches: map[string]*Cache{}, sizes: map[string]int{}}
	for _, name := range []string{Builds, Changes, SourceStamps, Properties} {
		s.caches[name], s.sizes[name] = newCache(name, DefaultSize(name)), DefaultSize(name)
	}
	return s
}

// Cache returns the cache called name, made at its default size on first
// use.
func (s *Set) Cache(name string) *Cache {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.caches[name]
	if c == nil {
		size := DefaultSize(name)
		c = newCache(name, size)
		s.caches[name], s.sizes[name] = c, size
	}
	return c
}

// Resize sets the size of each cache sizes names (values below 1 count as
// 1) and returns the others to their defaults; a smaller cache evicts its
// least recently used entries at once. A cache named only here is made.
func (s *Set) Resize(sizes map[string]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]int{}
	for name := range s.sizes {
		want[name] = DefaultSize(name)
	}
	for name, size := range sizes {
		want[name] = max(int(size), 1)
	}
	for name, size := range want {
		c := s.caches[name]
		if c == nil {
			s.caches[name], s.sizes[name] = newCache(name, size), size
			continue
		}
		if s.sizes[name] != size {
			c.lru.Resize(size)
			s.sizes[name] = size
		}
	}
}

// Stats returns every cache's figures, by name.
func (s *Set) Stats() []Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Stats, 0, len(s.caches))
	for name, c := range s.caches {
		st := c.stats()
		st.Size = s.sizes[name]
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Stats) int { return strings.Compare(a.Name, b.Name) })
	return out
}
