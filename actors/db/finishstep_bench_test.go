package db

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/logchunk/logchunktest"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// BenchmarkFinishStep finishes steps as the log writer does, 4 at a time
// as a master running 4 builds does: each step's one short log (a shell
// step's header and environment, about 1.5 KiB) is closed (closeLogs) and
// the step's FinishStep submitted to a durable state. ride: the logs'
// records ride in the commands (the state keeps them); sync: each log is
// synced on its own. CPU of the process per step, and fsyncs of the log
// store per step (the raft log's are not counted).
//
//	go test -run XXX -bench FinishStep -benchtime 2000x ./actors/db/
func BenchmarkFinishStep(b *testing.B) {
	content := []byte("htrue\nh in dir /home/worker/build (timeout 1200 secs)\nh argv: [\"/bin/sh\" \"-c\" \"true\"]\nh environment:\n")
	for i := range 40 {
		content = fmt.Appendf(content, "h  VAR_%02d=/usr/local/lib/value/%d:/usr/lib\n", i, i*7919)
	}
	content = append(content, "hprogram finished with exit code 0\nhelapsedTime=0.002\n"...)
	for _, ride := range []bool{false, true} {
		b.Run(map[bool]string{false: "sync", true: "ride"}[ride], func(b *testing.B) {
			dir := b.TempDir()
			fsys := &logchunktest.PowerLossFS{}
			logs, err := logchunk.Open(filepath.Join(dir, "logs"), logchunk.Options{FS: fsys})
			if err != nil {
				b.Fatal(err)
			}
			defer logs.Close()
			opts := state.Options{Logger: quiet}
			if ride {
				opts.LogRecords = logs
			}
			st, err := state.Open(filepath.Join(dir, "state"), opts)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			apply(b, st, &messages.MasterStarted{Name: "m", Time: 1})
			steps, logids := make([]uint64, b.N), make([]uint64, b.N)
			for i := range b.N {
				_, steps[i], logids[i] = addOneStep(b, st, int64(i+2))
			}
			rt := &service.Runtime{DB: st, Logs: logs, Log: quiet}
			var next atomic.Int64
			syncs, cpu := fsys.Syncs(), testkit.CPUTime()
			b.ResetTimer()
			b.SetParallelism(2) // 4 goroutines on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					w, err := logs.Create(logids[i], logchunk.Stdio)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := w.AppendChunk(content); err != nil {
						b.Fatal(err)
					}
					ll := closeLogs(rt, logids[i:i+1], []*logchunk.Writer{w})
					if _, err := st.Submit(messages.NewCommand(&messages.FinishStep{Stepid: steps[i], Results: state.ResultSuccess, CompleteAt: 1, Logs: ll})).Wait(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64((testkit.CPUTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/step")
			b.ReportMetric(float64(fsys.Syncs()-syncs)/float64(b.N), "log-fsyncs/step")
		})
	}
}

// addOneStep adds a build with one step and its one stdio log.
func addOneStep(b *testing.B, st *state.Store, at int64) (buildid, stepid, logid uint64) {
	buildid, stepid, logids := AddTestBuild(b, StoreSubmitter(st), 1, at, "stdio")
	return buildid, stepid, logids[0]
}
