package status

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/cache"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// buildHistory returns a store of n finished builds over 100 builders (a
// buildset, a request and a build each, results cycling through success,
// warnings and failure) and, when archived, with every buildset that may be
// archived archived, 256 to a segment; then a running build (n+1) on
// builder 1.
func buildHistory(b testing.TB, n int, archived bool) *state.Store {
	b.Helper()
	s := state.OpenEphemeral()
	b.Cleanup(func() { s.Close() })
	submit := func(k proto.Message) *messages.CommandResult {
		res, err := s.Submit(messages.NewCommand(k)).Wait()
		if err != nil {
			b.Fatal(err)
		}
		return res
	}
	submit(&messages.MasterStarted{Name: "m1", Time: 1000})
	for i := range 100 {
		submit(&messages.FindOrAddBuilder{Name: fmt.Sprintf("builder-%02d", i)})
	}
	for i := range n {
		at, builder := int64(2_000_000+10*i), uint64(1+i%100)
		brid := submit(&messages.AddBuildset{Reason: "scheduler", SubmittedAt: at, Builderids: []uint64{builder},
			Properties: []*messages.Property{{Name: "scheduler", ValueJson: `"main"`, Source: "Scheduler"}}}).GetIds()[0]
		id := submit(&messages.AddBuild{Builderid: builder, Buildrequestid: brid, Masterid: 1, StartedAt: at,
			StateString: "building", ClaimBrids: []uint64{brid}}).GetId()
		submit(&messages.FinishBuild{Buildid: id, Results: int32(i % 3), CompleteAt: at + 5, Brids: []uint64{brid}})
	}
	if archived {
		ids := state.ToArchiveBuildsets(s.Read(), math.MaxInt64)
		for len(ids) > 0 {
			k := min(256, len(ids))
			submit(&messages.ArchiveBuildsets{Buildsetids: ids[:k]})
			ids = ids[k:]
		}
	}
	brid := submit(&messages.AddBuildset{Reason: "force", SubmittedAt: 3_000_000, Builderids: []uint64{1}}).GetIds()[0]
	submit(&messages.AddBuild{Builderid: 1, Buildrequestid: brid, Masterid: 1, StartedAt: 3_000_000,
		StateString: "building", ClaimBrids: []uint64{brid}})
	return s
}

// BenchmarkBuildsAPI measures GET /api/v2/builds… through the data API
// (with its row caches) over BENCH_API_BUILDS finished builds (100,000;
// 1,000 with -short), from the tables (plain) and with the buildsets
// archived (archived): the newest page, the running builds
// (complete=false) and a filter without an index (results).
func BenchmarkBuildsAPI(b *testing.B) {
	n := testkit.ShortOr(100_000, 1000)
	for _, archived := range []bool{false, true} {
		s := buildHistory(b, n, archived)
		h := API(&service.Runtime{DB: s, Caches: cache.NewSet()})
		for _, q := range []struct{ name, url string }{
			{"page", "/api/v2/builds?limit=50&order=-buildid"},
			{"running", "/api/v2/builds?complete=false"},
			{"results", "/api/v2/builds?results=2&limit=50&order=-buildid"},
		} {
			b.Run(fmt.Sprintf("%s/archived=%v", q.name, archived), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, q.url, nil))
					if rec.Code != http.StatusOK {
						b.Fatalf("GET %s: %d %s", q.url, rec.Code, rec.Body)
					}
				}
			})
		}
	}
}
