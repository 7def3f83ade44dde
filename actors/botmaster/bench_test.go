package botmaster_test

// In-process benchmarks of the build path: an ephemeral master (no raft, no
// fsync: commands are applied at once), no control endpoint, and a fake
// connection per worker that completes every command at once with rc 0.
//
//	BenchmarkDistributor       1,000 builders, 100 workers, 10,000 queued
//	                           requests: requests/s until all are complete,
//	                           and the master's CPU per request; by how many
//	                           of the workers each builder lists (1, 10, 100)
//	                           and how many requests a buildset holds (1,000:
//	                           one buildset over every builder; 1)
//	BenchmarkBuildDBWrites     the same 10,000 requests' db commands (AddBuild
//	                           claiming the request with its steps, FinishBuild
//	                           with the last step and the request) submitted
//	                           straight to the store from 100 goroutines: the
//	                           floor the state alone puts under the
//	                           distributor's figure
//	BenchmarkChangeToBuildStart a change (AddChange, answered once applied)
//	                           to its build's first command at the worker,
//	                           one change at a time: p50/p95
//
//	go test -run XXX -bench . -benchtime 1x ./actors/botmaster/

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/paths"
	istate "github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// benchConfig renders nw workers (w000…, max_builds maxBuilds, a keepalive
// long enough never to matter) and nb builders (b0000…), builder i on
// perBuilder consecutive workers from i mod nw, one `true` step each,
// collapse_requests off; plus the given schedulers YAML.
func benchConfig(nw, nb, perBuilder, maxBuilds int, schedulers string) string {
	var sb strings.Builder
	sb.WriteString("workers:\n")
	for i := range nw {
		fmt.Fprintf(&sb, "  - {name: w%03d, password: pw, max_builds: %d, keepalive_interval: 1h}\n", i, maxBuilds)
	}
	sb.WriteString("builders:\n")
	for i := range nb {
		var ws []string
		for k := range perBuilder {
			ws = append(ws, fmt.Sprintf("w%03d", (i+k)%nw))
		}
		fmt.Fprintf(&sb, "  - {name: b%04d, workers: [%s], collapse_requests: false, steps: [{shell: {command: ['true']}}]}\n",
			i, strings.Join(ws, ", "))
	}
	sb.WriteString(schedulers)
	return sb.String()
}

// startBench starts an ephemeral in-process master on body and attaches nw
// workers, each through a fake connection that completes every command at
// once (rc 0); started, when set, receives the time each command arrived
// (a one-step build's first and only one).
func startBench(b testing.TB, body string, nw int, started chan time.Time) *master.Master {
	b.Helper()
	cfg, err := config.Load("bench.yaml", fmt.Appendf(nil, "listen: {debug: 127.0.0.1:0, www: 127.0.0.1:0, workers: 127.0.0.1:0, workers_pb: 127.0.0.1:0}\nmetrics: {log_interval: 0s}\n%s", body))
	if err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m, err := master.Start(master.Options{Config: cfg, Token: "t", Log: quiet, NoRemote: true, Ephemeral: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Stop(30 * time.Second) })
	for i := range nw {
		f := &fakeConn{worker: fmt.Sprintf("w%03d", i), instant: true, started: started}
		if _, err := m.RT.System.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return f }), "fakeconn:"+f.worker); err != nil {
			b.Fatal(err)
		}
	}
	// brd hears of each worker (WorkerAvailable) once it is ready.
	testkit.Retry(b, func() error {
		n := 0
		for i := range nw {
			if st, _ := m.RT.Tree.Lookup(paths.Worker(fmt.Sprintf("w%03d", i))).State().(*messages.WorkerState); st.GetConnected() {
				n++
			}
		}
		if n != nw {
			return fmt.Errorf("%d of %d workers connected", n, nw)
		}
		return nil
	})
	// …and then wakes; wait until it has gone quiet.
	brd := m.RT.Tree.Lookup(paths.BRD)
	for last := int64(-1); brd.Mailbox() > 0 || brd.Processed() != last; time.Sleep(50 * time.Millisecond) {
		last = brd.Processed()
	}
	return m
}

// outstanding counts requests not yet complete: unclaimed or claimed.
func outstanding(m *master.Master) int {
	txn := m.RT.DB.Read()
	n := 0
	for _, idx := range []string{istate.IndexUnclaimed, istate.IndexClaimedBy} {
		for range istate.ScanIndex(txn, istate.TableBuildRequests, idx+"_prefix", false) {
			n++
		}
	}
	return n
}

// allComplete reports whether no request is unclaimed or claimed: two
// index lookups, cheap enough to poll.
func allComplete(m *master.Master) bool {
	txn := m.RT.DB.Read()
	for _, idx := range []string{istate.IndexUnclaimed, istate.IndexClaimedBy} {
		for range istate.ScanIndex(txn, istate.TableBuildRequests, idx+"_prefix", false) {
			return false
		}
	}
	return true
}

// queue adds buildsets of bsSize builders each (b0000 first, round the nb
// builders) until total requests are queued, without waking brd.
func queue(b testing.TB, m *master.Master, nb, bsSize, total int) {
	b.Helper()
	next := 0
	for added := 0; added < total; added += bsSize {
		var names []string
		for range min(bsSize, total-added) {
			names = append(names, fmt.Sprintf("b%04d", next%nb))
			next++
		}
		if _, err := m.RT.DB.Submit(&messages.Command{Kind: &messages.Command_AddBuildset{AddBuildset: &messages.AddBuildset{
			Reason: "bench", SubmittedAt: time.Now().Unix(), BuilderNames: names,
			Sourcestamps: []*messages.SourceStamp{{}}}}}).Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDistributor: 1,000 builders, 100 workers (max_builds 1),
// 10,000 requests queued before brd is woken; then one MaybeStartBuilds,
// and the time until every request is complete. Each request is one
// build: AddBuild (claim, worker row, properties, steps), `true` on the
// instant worker, FinishBuild (last step and its log, the request). perBuilder is how
// many of the 100 workers each builder lists (a worker then serves
// 1000*perBuilder/100 builders, all of which brd looks at again whenever
// one of its builds ends).
func BenchmarkDistributor(b *testing.B) {
	const nw, nb = 100, 1000
	requests := testkit.ShortOr(10_000, 500)
	for _, c := range []struct{ perBuilder, bsSize int }{{1, 1000}, {10, 1000}, {100, 1000}, {10, 1}} {
		perBuilder := c.perBuilder
		b.Run(fmt.Sprintf("workers-per-builder=%d/buildset=%d", perBuilder, c.bsSize), func(b *testing.B) {
			var wall, cpu time.Duration
			for range b.N {
				b.StopTimer()
				m := startBench(b, benchConfig(nw, nb, perBuilder, 1, ""), nw, nil)
				queue(b, m, nb, c.bsSize, requests)
				if n := outstanding(m); n != requests {
					b.Fatalf("%d requests queued, want %d", n, requests)
				}
				b.StartTimer()
				c0, t0 := testkit.CPUTime(), time.Now()
				m.RT.System.Root.Send(actor.NewPID(m.RT.System.Address(), paths.BRD), &messages.MaybeStartBuilds{})
				deadline := t0.Add(10 * time.Minute)
				for !allComplete(m) {
					if time.Now().After(deadline) {
						b.Fatalf("%d requests still outstanding after %s", outstanding(m), time.Since(t0))
					}
					time.Sleep(2 * time.Millisecond)
				}
				wall, cpu = wall+time.Since(t0), cpu+testkit.CPUTime()-c0
				b.StopTimer()
				txn := m.RT.DB.Read()
				builds, steps := istate.Count(txn, istate.TableBuilds), istate.Count(txn, istate.TableSteps)
				if builds != requests || steps != 2*requests { // worker_preparation and `true`
					b.Fatalf("%d builds and %d steps, want %d and %d", builds, steps, requests, 2*requests)
				}
				for row := range istate.Scan(txn, istate.TableBuilds, false) {
					if r := row.(*messages.Build).Results; r == nil || *r != istate.ResultSuccess {
						b.Fatalf("build %v", row)
					}
				}
				m.Stop(30 * time.Second)
				b.StartTimer()
			}
			b.ReportMetric(float64(requests*b.N)/wall.Seconds(), "requests/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(requests*b.N), "cpu-µs/request")
			b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "wall-ms")
		})
	}
}

// submit applies cmd to s and waits for its result.
func submit(b *testing.B, s *istate.Store, cmd *messages.Command) *messages.CommandResult {
	res, err := s.Submit(cmd).Wait()
	if err != nil {
		b.Fatal(err)
	}
	return res
}

// BenchmarkBuildDBWrites submits, for each of 10,000 queued requests, the
// commands its build writes (as build.go and steps.go do, in order), from
// 100 goroutines (one per worker slot), straight to the ephemeral store:
// what the state alone costs per build, without actors or the distributor.
func BenchmarkBuildDBWrites(b *testing.B) {
	const nw, nb, writers = 100, 1000, 100
	requests := testkit.ShortOr(10_000, 500)
	for _, bsSize := range []int{1000, 1} {
		b.Run(fmt.Sprintf("buildset=%d", bsSize), func(b *testing.B) { benchBuildDBWrites(b, nw, nb, bsSize, requests, writers) })
	}
}

func benchBuildDBWrites(b *testing.B, nw, nb, bsSize, requests, writers int) {
	var wall, cpu time.Duration
	for range b.N {
		b.StopTimer()
		m := startBench(b, benchConfig(nw, nb, 1, 1, ""), 0, nil)
		queue(b, m, nb, bsSize, requests)
		var brids []*messages.BuildRequest
		for row := range istate.ScanIndex(m.RT.DB.Read(), istate.TableBuildRequests, istate.IndexUnclaimed+"_prefix", false) {
			brids = append(brids, row.(*messages.BuildRequest))
		}
		s, masterid := m.RT.DB, m.RT.MasterID
		b.StartTimer()
		c0, t0 := testkit.CPUTime(), time.Now()
		var wg sync.WaitGroup
		for g := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				worker := fmt.Sprintf("w%03d", g)
				for i := g; i < len(brids); i += writers {
					r := brids[i]
					now := time.Now().Unix()
					success := int32(0)
					bres := submit(b, s, &messages.Command{Kind: &messages.Command_AddBuild{AddBuild: &messages.AddBuild{
						Builderid: r.Builderid, Buildrequestid: r.Id, WorkerName: worker, Masterid: masterid, StartedAt: now,
						StateString: "building", ClaimBrids: []uint64{r.Id},
						Properties: []*messages.Property{{Name: "buildername", ValueJson: `"x"`, Source: "Builder"},
							{Name: "workername", ValueJson: `"w"`, Source: "Worker"}},
						Steps: []*messages.AddStep{{Name: "worker_preparation", StartedAt: now, Results: &success, CompleteAt: now},
							{Name: "shell", StartedAt: now, LogNames: []string{"stdio"}}}}}})
					ids := bres.GetIds()
					submit(b, s, &messages.Command{Kind: &messages.Command_FinishBuild{FinishBuild: &messages.FinishBuild{
						Buildid: bres.GetId(), CompleteAt: now, StateString: "build successful", Brids: []uint64{r.Id},
						LastStep: &messages.FinishStep{Stepid: ids[1], CompleteAt: now,
							Append: &messages.AppendLog{Logid: ids[2], Content: "hprogram finished with exit code 0\n"}}}}})
				}
			}()
		}
		wg.Wait()
		wall, cpu = wall+time.Since(t0), cpu+testkit.CPUTime()-c0
		b.StopTimer()
		if n := outstanding(m); n != 0 {
			b.Fatalf("%d requests outstanding", n)
		}
		m.Stop(30 * time.Second)
		b.StartTimer()
	}
	b.ReportMetric(float64(requests*b.N)/wall.Seconds(), "requests/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(requests*b.N), "cpu-µs/request")
}

// BenchmarkChangeToBuildStart: a single_branch scheduler without
// tree_stable_timer on one builder and one worker; each change is added
// through change_svc (answered once applied), and the latency is from that
// answer to the build's first command (its first step's) arriving at the worker, one
// change at a time, after the previous build completed.
func BenchmarkChangeToBuildStart(b *testing.B) {
	changesPerRun := testkit.ShortOr(200, 10)
	started := make(chan time.Time, 16)
	m := startBench(b, benchConfig(1, 1, 1, 1, "schedulers:\n  - {name: sb, type: single_branch, branch: main, builders: [b0000]}\n"), 1, started)
	svc := actor.NewPID(m.RT.System.Address(), paths.Changes)
	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		for i := range changesPerRun {
			res, err := m.RT.System.Root.RequestFuture(svc, &messages.AddChange{Change: &messages.Change{Author: "bench", Branch: "main",
				Revision: fmt.Sprintf("r%d", len(lat)), Comments: "bench"}}, 30*time.Second).Result()
			t0 := time.Now()
			if err != nil {
				b.Fatal(err)
			}
			if _, ok := res.(*messages.SendChangeResponse); !ok {
				b.Fatalf("change %d: %v", i, res)
			}
			lat = append(lat, testkit.Recv(b, "a build's start", started).Sub(t0))
			// The build completes at once; wait for it so that the next
			// change finds the worker free.
			for deadline := time.Now().Add(30 * time.Second); !allComplete(m); time.Sleep(100 * time.Microsecond) {
				if time.Now().After(deadline) {
					b.Fatal("build did not complete")
				}
			}
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1e3 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.95), "p95-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
