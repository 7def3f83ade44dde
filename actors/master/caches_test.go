package master

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/cache"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// TestCachesServiceSizesAndShowsTheCaches: the caches service sizes the
// master's caches from the config (a reconfig resizes them), and shows
// their figures live on its tree node and on /metrics.
func TestCachesServiceSizesAndShowsTheCaches(t *testing.T) {
	m, render := startTest(t, oneBuilder)
	node := m.RT.Tree.Lookup(paths.Caches)
	size := func() int32 {
		t.Helper()
		st, ok := node.State().(*messages.CachesState)
		if !ok {
			t.Fatalf("caches node shows %T", node.State())
		}
		for _, c := range st.GetCaches() {
			if c.GetName() == cache.Builds {
				return c.GetSize()
			}
		}
		t.Fatalf("no Builds cache in %v", st)
		return 0
	}
	if got := size(); got != 100 {
		t.Fatalf("Builds sized %d at start, want 100 (two 50-row pages)", got)
	}
	reconfigure(t, m, render(twoBuilders), false) // caches: {Builds: 50}
	if got := size(); got != 50 {
		t.Fatalf("Builds sized %d after the reconfig, want 50", got)
	}

	// A read through the cache shows on the node at once, and on /metrics.
	c := m.RT.Caches.Cache(cache.Builds)
	c.Get(cache.Key{Kind: "builds", ID: 1}, nil)
	st := node.State().(*messages.CachesState)
	var misses uint64
	for _, c := range st.GetCaches() {
		if c.GetName() == cache.Builds {
			misses = c.GetMisses()
		}
	}
	if misses != 1 {
		t.Fatalf("the node shows %d misses: %v", misses, st)
	}
	res, err := http.Get("http://" + m.DebugAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, want := range []string{`buildmaster_cache_size{cache="Builds"} 50`, `buildmaster_cache_misses_total{cache="Builds"} 1`,
		`buildmaster_cache_hits_total{cache="Changes"} 0`, `buildmaster_cache_evictions_total{cache="SourceStamps"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
}
