package db

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// seedExpiryHistory loads into an ephemeral store builds finished builds
// of 100 builders, each with its change, buildset, request, three steps
// and two logs, their steps and logs archived ArchiveBatch builds at a
// time: the shape of the test/ harness's history (seedHistory).
func seedExpiryHistory(b *testing.B, builds int) *state.Store {
	b.Helper()
	st := state.OpenEphemeral()
	h := state.History{Builds: builds, Builders: 100, LinesPerLog: 40, ArchiveBatch: ArchiveBatch}
	if _, err := st.Load(h.Commands(), 4096); err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkExpiry is the janitor's expiry of a history of archived builds
// (BM_BENCH_EXPIRY_BUILDS, default 20,000), every one of them past the
// builds horizon but the newest of each builder, while a probe writes two
// commands one after the other (as a build's start does), again and
// again: how long planning takes (plan-ms), how long the Expire commands
// take from submission to applied (expire-p50-ms, expire-max-ms, and how
// many), and how long the probe's two writes take (probe-p50-ms,
// probe-p99-ms, probe-max-ms). "fixed" writes batches of 100 builds one
// after the other, as the janitor did; "paced" as the janitor's pacer
// says.
//
//	go test -run '^$' -bench BenchmarkExpiry -benchtime 1x ./actors/db/
func BenchmarkExpiry(b *testing.B) {
	builds := testkit.ShortOr(20_000, 1_000)
	if n, err := strconv.Atoi(os.Getenv("BM_BENCH_EXPIRY_BUILDS")); err == nil && n > 0 {
		builds = n
	}
	hz := &messages.HorizonsConfig{Builds: hours(86400)}
	now := time.Unix(10_000_000, 0)
	for _, c := range []struct {
		name string
		pace func() *pacer
	}{
		{"fixed", func() *pacer {
			p := newPacer(0)
			p.min, p.size = p.max, p.max
			p.wait = func(context.Context, time.Duration) error { return nil }
			return p
		}},
		{"paced", func() *pacer { return newPacer(0) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				st := seedExpiryHistory(b, builds)
				runtime.GC()
				b.StartTimer()
				t0 := time.Now()
				plan, _ := planExpiry(st.Read(), hz, now, logHorizon{})
				planned := time.Since(t0)
				done := make(chan struct{})
				var probes []time.Duration
				var wg sync.WaitGroup
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-done:
							return
						case <-time.After(2 * time.Millisecond):
						}
						t := time.Now()
						for k := range 2 {
							if _, err := st.Submit(messages.NewCommand(&messages.FindOrAddBuilder{Name: fmt.Sprintf("probe-%d-%d", i, k)})).Wait(); err != nil {
								b.Error(err)
								return
							}
						}
						probes = append(probes, time.Since(t))
					}
				})
				var expires []time.Duration
				pace := c.pace()
				for x := plan.next(pace.next()); x != nil; x = plan.next(pace.next()) {
					t := time.Now()
					if _, err := st.Submit(messages.NewCommand(x)).Wait(); err != nil {
						b.Fatal(err)
					}
					took := time.Since(t)
					expires = append(expires, took)
					if err := pace.took(context.Background(), took); err != nil {
						b.Fatal(err)
					}
				}
				close(done)
				wg.Wait()
				b.StopTimer()
				if n := state.Count(st.Read(), state.TableBuilds); n != 100 {
					b.Fatalf("%d builds left, want 100", n)
				}
				st.Close()
				b.ReportMetric(float64(planned.Microseconds())/1000, "plan-ms")
				slices.Sort(expires)
				slices.Sort(probes)
				at := func(ds []time.Duration, q float64) float64 {
					return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))].Microseconds()) / 1000
				}
				b.ReportMetric(at(expires, 0.5), "expire-p50-ms")
				b.ReportMetric(at(expires, 1), "expire-max-ms")
				b.ReportMetric(at(probes, 0.5), "probe-p50-ms")
				b.ReportMetric(at(probes, 0.99), "probe-p99-ms")
				b.ReportMetric(at(probes, 1), "probe-max-ms")
				b.ReportMetric(float64(len(expires)), "expires")
				b.StartTimer()
			}
		})
	}
}
