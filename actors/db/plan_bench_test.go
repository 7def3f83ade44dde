package db

import (
	"os"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// BenchmarkPlanExpiry is one janitor run's plan over a history
// (BM_BENCH_EXPIRY_BUILDS, default 20,000 builds) whose buildsets, with
// their requests and builds, and changes are archived, when the horizons
// (builds, changes) let nothing go: the steady state, where the runs
// before removed what was past the horizons.
//
//	go test -run '^$' -bench PlanExpiry -benchtime 10x ./actors/db/
func BenchmarkPlanExpiry(b *testing.B) {
	builds := testkit.ShortOr(20_000, 1_000)
	if n, err := strconv.Atoi(os.Getenv("BM_BENCH_EXPIRY_BUILDS")); err == nil && n > 0 {
		builds = n
	}
	st := seedExpiryHistory(b, builds)
	defer st.Close()
	end := int64(2_000_000 + 10*builds)
	archive := func(ids []uint64, c func([]uint64) proto.Message) {
		for first := 0; first < len(ids); first += ArchiveBatch {
			if _, err := st.Submit(messages.NewCommand(c(ids[first:min(first+ArchiveBatch, len(ids))]))).Wait(); err != nil {
				b.Fatal(err)
			}
		}
	}
	archive(state.ToArchiveBuildsets(st.Read(), end+100), func(ids []uint64) proto.Message { return &messages.ArchiveBuildsets{Buildsetids: ids} })
	archive(state.ChangesToArchive(st.Read(), end+100, 0), func(ids []uint64) proto.Message { return &messages.ArchiveChanges{Changeids: ids} })
	hz := &messages.HorizonsConfig{Builds: hours(10*int64(builds) + 1000), Changes: int32(builds + 10)}
	now := time.Unix(end, 0)
	txn := st.Read()
	b.ReportAllocs()
	for b.Loop() {
		plan, _ := planExpiry(txn, hz, now, logHorizon{})
		if len(plan.builds)+len(plan.requests)+len(plan.buildsets)+len(plan.changes) != 0 {
			b.Fatalf("plan %+v, want nothing to go", plan)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "plan-ms")
}
