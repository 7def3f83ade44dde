package status

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/cache"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// stats returns the figures of the cache called name.
func stats(set *cache.Set, name string) cache.Stats {
	for _, s := range set.Stats() {
		if s.Name == name {
			return s
		}
	}
	return cache.Stats{}
}

// TestReadsThroughCaches: builds, changes, sourcestamps (alone and in a
// buildset) and properties are rendered once and then answered from their
// caches; a row that changes is rendered again, never served stale; a
// field selection bypasses the caches; a cache smaller than a page evicts.
func TestReadsThroughCaches(t *testing.T) {
	rt := fixture(t)
	h := Handler(rt)
	get := func(url string) string {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		if rec.Code != 200 {
			t.Fatalf("GET %s: HTTP %d %s", url, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	type counts struct{ hits, misses uint64 }
	for _, c := range []struct {
		url, cache string
		first      counts // after the first GET
		second     counts // after the second
	}{
		{"/api/v2/builds", cache.Builds, counts{0, 2}, counts{2, 2}},
		{"/api/v2/changes?limit=5", cache.Changes, counts{0, 5}, counts{5, 5}},
		{"/api/v2/sourcestamps/1", cache.SourceStamps, counts{0, 1}, counts{1, 1}},
		{"/api/v2/buildsets/3", cache.SourceStamps, counts{1, 3}, counts{3, 3}}, // its sourcestamps 4 and 3; the counts go on from above
		{"/api/v2/builds/1/properties", cache.Properties, counts{0, 1}, counts{1, 1}},
		{"/api/v2/buildsets/1/properties", cache.Properties, counts{1, 2}, counts{2, 2}},
	} {
		first := get(c.url)
		if s := stats(rt.Caches, c.cache); s.Hits != c.first.hits || s.Misses != c.first.misses {
			t.Errorf("GET %s: %s has %d hits, %d misses; want %+v", c.url, c.cache, s.Hits, s.Misses, c.first)
		}
		if second := get(c.url); second != first {
			t.Errorf("GET %s from the cache:\n%s\nwant\n%s", c.url, second, first)
		}
		if s := stats(rt.Caches, c.cache); s.Hits != c.second.hits || s.Misses != c.second.misses {
			t.Errorf("GET %s again: %s has %d hits, %d misses; want %+v", c.url, c.cache, s.Hits, s.Misses, c.second)
		}
	}

	// A field selection renders the rows itself.
	before := stats(rt.Caches, cache.Builds)
	get("/api/v2/builds?field=buildid")
	if after := stats(rt.Caches, cache.Builds); after != before {
		t.Errorf("a field selection used the cache: %+v then %+v", before, after)
	}

	// Build 2 finishes: its next rendering shows it, and build 1 is still a hit.
	if _, err := rt.DB.Submit(messages.NewCommand(&messages.FinishBuild{Buildid: 2, Results: state.ResultFailure, CompleteAt: 1700002000})).Wait(); err != nil {
		t.Fatal(err)
	}
	if got := get("/api/v2/builds/2"); !strings.Contains(got, `"results":2`) || !strings.Contains(got, `"complete":true`) {
		t.Fatalf("build 2 after it finished: %s", got)
	}
	if s := stats(rt.Caches, cache.Builds); s.Hits != 2 || s.Misses != 3 {
		t.Errorf("after build 2 changed: %+v", s)
	}

	// Changes sized 2: a page of 5 leaves 2, evicting the rest.
	rt.Caches.Resize(map[string]int32{cache.Changes: 2})
	get("/api/v2/changes?limit=5&offset=5")
	if s := stats(rt.Caches, cache.Changes); s.Entries != 2 || s.Evictions < 5 {
		t.Errorf("Changes sized 2 after a page of 5: %+v", s)
	}
}

// TestDefaultBuildsCacheHoldsAPage: at the default sizes, the newest page
// of 50 builds served twice is answered from the cache the second time,
// every row of it.
func TestDefaultBuildsCacheHoldsAPage(t *testing.T) {
	rt := &service.Runtime{DB: buildHistory(t, 200, false), Caches: cache.NewSet()}
	h := API(rt)
	const url = "/api/v2/builds?limit=50&order=-buildid"
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: HTTP %d %s", url, rec.Code, rec.Body)
		}
	}
	if s := stats(rt.Caches, cache.Builds); s.Hits != 50 || s.Misses != 50 || s.Evictions != 0 {
		t.Fatalf("a page of 50 builds served twice: %+v; want 50 hits, 50 misses, no evictions", s)
	}
}

// TestArchivedBuildsDoNotEvict: archived builds, decoded afresh on each
// read, are not kept in the cache (they could never hit), so a page of
// them leaves the live build that was cached before it.
func TestArchivedBuildsDoNotEvict(t *testing.T) {
	rt := &service.Runtime{DB: buildHistory(t, 200, true), Caches: cache.NewSet()}
	rt.Caches.Resize(map[string]int32{cache.Builds: 5})
	if raw, err := rt.DB.Read().First(state.TableBuilds, state.IndexID, uint64(50)); err != nil || raw != nil {
		t.Fatalf("build 50 is in its table (%v): the oldest 50 builds must be archived", err)
	}
	h := API(rt)
	for _, url := range []string{"/api/v2/builds/201", "/api/v2/builds?limit=50&order=buildid", "/api/v2/builds/201"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: HTTP %d %s", url, rec.Code, rec.Body)
		}
	}
	// Build 201 (running, in its table): a miss, then a hit; the 50
	// archived builds of the page: misses, not kept.
	if s := stats(rt.Caches, cache.Builds); s.Hits != 1 || s.Misses != 51 || s.Entries != 1 || s.Evictions != 0 {
		t.Fatalf("after a page of archived builds: %+v; want 1 hit, 51 misses, 1 entry, no evictions", s)
	}
}

// TestDefaultChangesCacheHoldsAPage: with the default sizes, a page of
// 50 changes served twice is rendered once (Buildbot's 10 never hit).
func TestDefaultChangesCacheHoldsAPage(t *testing.T) {
	s := state.OpenEphemeral()
	t.Cleanup(func() { s.Close() })
	for i := range 200 {
		c := &messages.Change{Author: "a", Branch: "main", WhenTimestamp: int64(1_800_000_000 + i)}
		if _, err := s.Submit(messages.NewCommand(&messages.AddChange{Change: c})).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	rt := &service.Runtime{DB: s, Caches: cache.NewSet()}
	h := API(rt)
	const url = "/api/v2/changes?limit=50&order=-changeid"
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: HTTP %d %s", url, rec.Code, rec.Body)
		}
	}
	if s := stats(rt.Caches, cache.Changes); s.Hits != 50 || s.Misses != 50 || s.Evictions != 0 {
		t.Fatalf("a page of 50 changes served twice: %+v; want 50 hits, 50 misses, no evictions", s)
	}
}
