package ui

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"iter"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// The large master of the benchmarks: 1,000 builders, 100 workers, 10,000
// changes each built by 10 builders (100,000 finished builds), 50 builds
// running, 200 requests queued, and one running build whose log has
// 100,000 lines.
const (
	bigBuilders   = 1000
	bigWorkers    = 100
	bigChanges    = 10_000
	bigFanout     = 10
	bigRunning    = 50
	bigQueued     = 200
	bigLogLines   = 100_000
	bigLogBuilder = "builder-0007"
)

var bigOnce = sync.OnceValues(func() (*state.Store, error) {
	s := state.OpenEphemeral()
	_, err := s.Load(bigMaster(), 4096)
	return s, err
})

func bigStore(b *testing.B) *state.Store {
	b.Helper()
	s, err := bigOnce()
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// bigMaster yields the commands that fill the large master. Ids are
// predictable: state allocates each table's next id as one more than its
// largest, and every command here adds exactly the rows counted.
func bigMaster() iter.Seq[*messages.Command] {
	return func(yield func(*messages.Command) bool) {
		cmd := func(c *messages.Command) bool { return yield(c) }
		base := t0.Add(-bigChanges * time.Minute)
		ts := func(d time.Duration) int64 { return base.Add(d).Unix() }
		if !cmd(&messages.Command{Kind: &messages.Command_MasterStarted{MasterStarted: &messages.MasterStarted{Name: "master", Time: ts(0)}}}) {
			return
		}
		for i := range bigBuilders {
			tags := []string{fmt.Sprintf("team-%d", i%10), []string{"linux", "windows", "macos", "arm"}[i%4]}
			if !cmd(&messages.Command{Kind: &messages.Command_FindOrAddBuilder{FindOrAddBuilder: &messages.FindOrAddBuilder{
				Name: fmt.Sprintf("builder-%04d", i), Tags: tags, Description: "a builder"}}}) {
				return
			}
		}
		for i := 1; i <= bigWorkers; i++ {
			if !cmd(&messages.Command{Kind: &messages.Command_FindOrAddWorker{FindOrAddWorker: &messages.FindOrAddWorker{Name: fmt.Sprintf("worker-%03d", i)}}}) ||
				!cmd(&messages.Command{Kind: &messages.Command_WorkerConnected{WorkerConnected: &messages.WorkerConnected{Workerid: uint64(i), Masterid: 1,
					InfoJson: `{"host":"h","version":"3.7.0"}`}}}) {
				return
			}
		}
		brid, buildid := uint64(0), uint64(0)
		for c := 1; c <= bigChanges+bigRunning/bigFanout+bigQueued/bigFanout; c++ {
			branch := "main"
			if c%20 == 0 {
				branch = fmt.Sprintf("feature-%d", c%7)
			}
			when := time.Duration(c) * time.Minute
			if !cmd(&messages.Command{Kind: &messages.Command_AddChange{AddChange: &messages.AddChange{Change: &messages.Change{
				Author: fmt.Sprintf("dev%d <dev%d@example.com>", c%50, c%50), Comments: fmt.Sprintf("change %d: make things better", c),
				Branch: branch, Revision: fmt.Sprintf("%040x", c), WhenTimestamp: ts(when), Repository: "https://example.com/big.git",
				Files: []string{"a.go", "b.go"}}}}}) {
				return
			}
			builders := make([]uint64, bigFanout)
			for k := range builders {
				builders[k] = uint64((c*bigFanout+k)%bigBuilders) + 1
			}
			if !cmd(&messages.Command{Kind: &messages.Command_AddBuildset{AddBuildset: &messages.AddBuildset{
				Reason: "The SingleBranchScheduler scheduler named 'all' triggered this build", SubmittedAt: ts(when + 10*time.Second),
				SourcestampIds: []uint64{uint64(c)}, Builderids: builders}}}) {
				return
			}
			for k, builder := range builders {
				brid++
				if c > bigChanges+bigRunning/bigFanout {
					continue // queued
				}
				buildid++
				start := when + 30*time.Second
				if !cmd(&messages.Command{Kind: &messages.Command_AddBuild{AddBuild: &messages.AddBuild{
					Builderid: builder, Buildrequestid: brid, Workerid: uint64(c*bigFanout+k)%bigWorkers + 1, Masterid: 1,
					StartedAt: ts(start), StateString: "building", ClaimBrids: []uint64{brid},
					Properties: []*messages.Property{{Name: "branch", ValueJson: `"` + branch + `"`, Source: "Build"}}}}}) {
					return
				}
				if c > bigChanges {
					continue // running
				}
				results := int32(state.ResultSuccess)
				switch {
				case (c+k)%37 == 0:
					results = state.ResultFailure
				case (c+k)%53 == 0:
					results = state.ResultWarnings
				case (c+k)%97 == 0:
					results = state.ResultException
				}
				if !cmd(&messages.Command{Kind: &messages.Command_FinishBuild{FinishBuild: &messages.FinishBuild{
					Buildid: buildid, Results: results, CompleteAt: ts(start + time.Duration(300+(c*k)%600)*time.Second),
					StateString: "build " + resultName(&results), Brids: []uint64{brid}}}}) {
					return
				}
			}
		}
	}
}

// bigLog adds a running build of bigLogBuilder whose log has 100,000
// lines (once), and returns its page's path and the log's id.
func bigLog(b *testing.B, s *state.Store) (string, uint64) {
	b.Helper()
	txn := s.Read()
	defer txn.Abort()
	builder := state.First(txn, state.TableBuilders, state.IndexName, bigLogBuilder).(*messages.Builder)
	if last, _ := txn.Last(state.TableBuilds, state.IndexBuilderNumber+"_prefix", builder.Id); last != nil && last.(*messages.Build).StateString == "big log" {
		bd := last.(*messages.Build)
		step := state.First(txn, state.TableSteps, state.IndexBuildNumber, bd.Id, int32(0)).(*messages.Step)
		log := state.First(txn, state.TableLogs, state.IndexStep, step.Id).(*messages.Log)
		return fmt.Sprintf("/builders/%s/builds/%d", bigLogBuilder, bd.Number), log.Id
	}
	do := func(c *messages.Command) *messages.CommandResult {
		res, err := s.Submit(c).Wait()
		if err != nil {
			b.Fatal(err)
		}
		return res
	}
	res := do(&messages.Command{Kind: &messages.Command_AddBuild{AddBuild: &messages.AddBuild{
		Builderid: builder.Id, Workerid: 1, Masterid: 1, StartedAt: t0.Add(-time.Hour).Unix(), StateString: "big log",
		Steps: []*messages.AddStep{{Name: "compile", StartedAt: t0.Add(-time.Hour).Unix(), LogNames: []string{"stdio"}}}}}})
	logid := res.Ids[1]
	for chunk := range bigLogChunks() {
		do(&messages.Command{Kind: &messages.Command_AppendLog{AppendLog: &messages.AppendLog{Logid: logid, Content: chunk}}})
	}
	return fmt.Sprintf("/builders/%s/builds/%d", bigLogBuilder, res.Number), logid
}

// bigLogChunks yields the big log's lines in chunks of about 60 kB, as the
// botmaster appends them.
func bigLogChunks() iter.Seq[string] {
	return func(yield func(string) bool) {
		var chunk strings.Builder
		for i := range bigLogLines {
			fmt.Fprintf(&chunk, "o\x1b[32m[%06d]\x1b[0m compiling package number %d of the tree\n", i, i)
			if chunk.Len() > 60_000 || i == bigLogLines-1 {
				if !yield(chunk.String()) {
					return
				}
				chunk.Reset()
			}
		}
	}
}

// bigLogFile writes the big log (id logid) to a log store in a temporary
// directory, as the master keeps it, and returns the store.
func bigLogFile(b *testing.B, logid uint64) *logchunk.Store {
	b.Helper()
	st, err := logchunk.Open(b.TempDir(), logchunk.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	w, err := st.Create(logid, logchunk.Stdio)
	if err != nil {
		b.Fatal(err)
	}
	for chunk := range bigLogChunks() {
		if _, err := w.AppendChunk([]byte(chunk)); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return st
}

// benchPage renders path b.N times and reports the page's size, raw and
// gzip-compressed (as served to a browser), in KiB. Each of before runs
// before each rendering.
func benchPage(b *testing.B, path string, before ...func(*UI)) {
	s := bigStore(b)
	var opts []func(*Options)
	if rest, ok := strings.CutPrefix(path, "biglog"); ok {
		page, logid := bigLog(b, s)
		logs := bigLogFile(b, logid)
		path = page + rest
		opts = append(opts, func(o *Options) { o.Logs = logs })
	}
	u := newUI(b, s, newRecorder(), opts...)
	req := httptest.NewRequest(http.MethodGet, path, nil)
	first := httptest.NewRecorder()
	u.ServeHTTP(first, req)
	if first.Code != http.StatusOK {
		b.Fatalf("GET %s: %d %s", path, first.Code, first.Body)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	zw.Write(first.Body.Bytes())
	zw.Close()
	runtime.GC() // the fixture's garbage is not the page's
	b.ReportAllocs()
	cpu := testkit.CPUTime()
	b.ResetTimer()
	for b.Loop() {
		for _, f := range before {
			f(u)
		}
		rec := httptest.NewRecorder()
		u.ServeHTTP(rec, req)
	}
	b.StopTimer()
	// CPU time is what the page costs the master; wall time (ns/op) is
	// that plus waiting for a core on a busy machine.
	b.ReportMetric(float64(testkit.CPUTime()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/page")
	b.ReportMetric(float64(first.Body.Len())/1024, "KiB")
	b.ReportMetric(float64(gz.Len())/1024, "KiB-gzip")
}

func BenchmarkHome(b *testing.B)       { benchPage(b, "/") }
func BenchmarkHomeTag(b *testing.B)    { benchPage(b, "/?tag=team-3") }
func BenchmarkConsole(b *testing.B)    { benchPage(b, "/console") }
func BenchmarkConsole100(b *testing.B) { benchPage(b, "/console?limit=100") }

// BenchmarkConsoleBuilt is Console's default page (20 changes) where each
// change has its builds (10 builders each: 200 columns); the newest 20
// changes of the fixture are only queued, so /console shows no builder.
func BenchmarkConsoleBuilt(b *testing.B) {
	benchPage(b, fmt.Sprintf("/console?before=%d", bigChanges+bigRunning/bigFanout+1))
}

// The fragments live.js re-fetches on Home when their events come: at most
// one each a second (running, queue) or five seconds (builders) per browser.
func BenchmarkHomeRunning(b *testing.B)  { benchPage(b, "/?fragment=running") }
func BenchmarkHomeQueue(b *testing.B)    { benchPage(b, "/?fragment=queue") }
func BenchmarkHomeBuilders(b *testing.B) { benchPage(b, "/?fragment=builders") }
func BenchmarkGrid(b *testing.B)         { benchPage(b, "/grid") }

// BenchmarkGridCold is the grid with no builder's builds remembered, as
// after every builder had a new build since the last rendering.
func BenchmarkGridCold(b *testing.B)    { benchPage(b, "/grid", func(u *UI) { u.recent.lru.Purge() }) }
func BenchmarkBuilder(b *testing.B)     { benchPage(b, "/builders/builder-0500") }
func BenchmarkWorkers(b *testing.B)     { benchPage(b, "/workers") }
func BenchmarkBuildBigLog(b *testing.B) { benchPage(b, "biglog") }
func BenchmarkBigLogLines(b *testing.B) {
	benchPage(b, "biglog?step=0&log=stdio&fragment=lines&from=95000")
}

// BenchmarkBigLogFirstErr is ?find=error on the big log, which has no error
// line: the search of a log read before reads nothing; ...Cold forgets
// every search first, so each reads the 100,000 lines.
func BenchmarkBigLogFirstErr(b *testing.B) { benchPage(b, "biglog?step=0&log=stdio&find=error") }
func BenchmarkBigLogFirstErrCold(b *testing.B) {
	benchPage(b, "biglog?step=0&log=stdio&find=error", func(u *UI) { u.errors.seen.Purge() })
}
