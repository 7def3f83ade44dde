package status

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// bigBranches is how many branches the changes BenchmarkChangesAPI serves
// from are spread over, round-robin (so each branch holds 1/10 of them).
const bigBranches = 10

// bigChanges is how many changes BenchmarkChangesAPI serves from:
// 1,000,000, or 2,000 with -short (CI runs every benchmark once, small).
func bigChanges() int {
	if testing.Short() {
		return 2000
	}
	return 1_000_000
}

var big struct {
	once    sync.Once
	h       http.Handler
	err     error
	load    time.Duration
	heapMiB float64
}

// bigChange is the i-th (0-based) change of the big table: its own revision
// (so its own sourcestamp), one file, one property, as a sendchange makes.
func bigChange(i int) *messages.Command {
	return &messages.Command{Kind: &messages.Command_AddChange{AddChange: &messages.AddChange{Change: &messages.Change{
		Author:        fmt.Sprintf("author-%d <a%d@example.com>", i%1000, i%1000),
		Branch:        fmt.Sprintf("branch-%d", i%bigBranches),
		WhenTimestamp: int64(1_700_000_000 + i),
		Repository:    "https://git.example.com/project.git",
		Project:       "project",
		Revision:      fmt.Sprintf("%040x", i),
		Comments:      fmt.Sprintf("change %d: fix the frobnicator", i),
		Files:         []string{fmt.Sprintf("pkg/mod%d/file.go", i%100)},
		Properties:    []*messages.Property{{Name: "event", ValueJson: `"push"`, Source: "Change"}},
	}}}}
}

// bigAPI returns the data API over an ephemeral store of bigChanges changes,
// built once per process: the commands are applied through the state
// package's Load (Apply in 4096-command write transactions, as raft's
// batching FSM does), not one Submit each.
func bigAPI(b *testing.B) http.Handler {
	big.once.Do(func() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		s := state.OpenEphemeral()
		n, err := s.Load(func(yield func(*messages.Command) bool) {
			for i := range bigChanges() {
				if !yield(bigChange(i)) {
					return
				}
			}
		}, 4096)
		big.load = time.Since(start)
		if err != nil {
			big.err = fmt.Errorf("after %d changes: %w", n, err)
			return
		}
		if got := state.Count(s.Read(), state.TableChanges); got != bigChanges() {
			big.err = fmt.Errorf("%d changes loaded, want %d", got, bigChanges())
			return
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		big.heapMiB = float64(after.HeapInuse-before.HeapInuse) / (1 << 20)
		big.h = API(&service.Runtime{DB: s})
	})
	if big.err != nil {
		b.Fatal(big.err)
	}
	b.Logf("%d changes loaded in %v; heap in use for them %.0f MiB", bigChanges(), big.load.Round(time.Millisecond), big.heapMiB)
	return big.h
}

type envelope struct {
	Changes []map[string]any `json:"changes"`
	Meta    struct {
		Total int `json:"total"`
	} `json:"meta"`
}

// get serves one request through h and checks it is a 200 with JSON.
func get(b *testing.B, h http.Handler, url string) envelope {
	b.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: %d %s", url, rec.Code, rec.Body)
	}
	var env envelope
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		b.Fatalf("GET %s: %v", url, err)
	}
	return env
}

// BenchmarkChangesAPI measures GET /api/v2/changes… served by the real
// handler over 1,000,000 changes (bigChanges) (target: under 5 ms for limit=50).
func BenchmarkChangesAPI(b *testing.B) {
	h := bigAPI(b)
	n := bigChanges()
	half := n / 2
	un, uhalf := uint64(n), uint64(half)
	ids := func(env envelope) (first, last uint64) {
		f, _ := env.Changes[0]["changeid"].(float64)
		l, _ := env.Changes[len(env.Changes)-1]["changeid"].(float64)
		return uint64(f), uint64(l)
	}
	cases := []struct {
		name, url       string
		total           int
		firstID, lastID uint64
		rows            int
	}{
		{"limit=50", "/api/v2/changes?limit=50", n, 1, 50, 50},
		{"limit=50,order=-changeid", "/api/v2/changes?limit=50&order=-changeid", n, un, un - 49, 50},
		{fmt.Sprintf("limit=50,offset=%d", half), fmt.Sprintf("/api/v2/changes?limit=50&offset=%d", half), n, uhalf + 1, uhalf + 50, 50},
		// branch-3 holds changes 4, 14, 24, …: the filter makes the scan
		// count every match, so this one is O(table).
		{"branch=branch-3,limit=50", "/api/v2/changes?branch=branch-3&limit=50", n / bigBranches, 4, 494, 50},
		{fmt.Sprintf("id=%d", half), fmt.Sprintf("/api/v2/changes/%d", half), 1, uhalf, uhalf, 1},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			env := get(b, h, c.url)
			if env.Meta.Total != c.total || len(env.Changes) != c.rows {
				b.Fatalf("GET %s: total %d, %d rows; want %d, %d", c.url, env.Meta.Total, len(env.Changes), c.total, c.rows)
			}
			if f, l := ids(env); f != c.firstID || l != c.lastID {
				b.Fatalf("GET %s: changeids %d…%d, want %d…%d", c.url, f, l, c.firstID, c.lastID)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.url, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d", c.url, rec.Code)
				}
			}
		})
	}
	// The same limit=50 request over a real 127.0.0.1 socket, with
	// net/http's client (keep-alive), reading the whole body.
	b.Run("limit=50,socket", func(b *testing.B) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
			b.Fatalf("server at %s, want 127.0.0.1", srv.URL)
		}
		client := srv.Client()
		url := srv.URL + "/api/v2/changes?limit=50"
		b.ReportAllocs()
		b.ResetTimer()
		var bytes int64
		for i := 0; i < b.N; i++ {
			resp, err := client.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
			}
			bytes = n
		}
		b.StopTimer()
		b.ReportMetric(float64(bytes), "body-B")
	})
}
