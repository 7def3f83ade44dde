package db

import (
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// BenchmarkLogHorizon is the planning of the logs' horizon at a janitor
// run over a history of archived builds whose logs went at earlier runs,
// and 10 builds since: "walked" from where the run before got to (the
// janitor's way), "whole" from the first build (every run's cost before,
// and the first run's after a start).
//
//	go test -run '^$' -bench LogHorizon ./actors/db/
func BenchmarkLogHorizon(b *testing.B) {
	builds := testkit.ShortOr(20_000, 500)
	st := state.OpenEphemeral()
	defer st.Close()
	submit := StoreSubmitter(st)
	ApplyAll(b, submit, &messages.MasterStarted{Name: "m", Time: 1})
	var ids []uint64
	for i := range builds + 10 {
		at := int64(1000 + i)
		if i == builds {
			at = 1_000_000 // the 10 builds since the last run
		}
		buildid, stepid, _ := AddTestBuild(b, submit, 1, at, "stdio", "debug")
		ApplyAll(b, submit, &messages.FinishBuild{Buildid: buildid, Results: state.ResultSuccess, CompleteAt: at + 1,
			LastStep: &messages.FinishStep{Stepid: stepid, Results: state.ResultSuccess, CompleteAt: at + 1}})
		ids = append(ids, buildid)
	}
	for len(ids) > 0 {
		n := min(256, len(ids))
		ApplyAll(b, submit, &messages.Archive{Buildids: ids[:n]})
		ids = ids[n:]
	}
	hz := &messages.HorizonsConfig{Logs: hours(3600)}
	// The run before: the history's logs went.
	plan, lh := planExpiry(st.Read(), hz, time.Unix(500_000, 0), logHorizon{})
	for _, x := range plan.commands(0) {
		ApplyAll(b, submit, x)
	}
	now := time.Unix(2_000_000, 0)
	for _, c := range []struct {
		name string
		from logHorizon
	}{{"walked", lh}, {"whole", logHorizon{}}} {
		b.Run(c.name, func(b *testing.B) {
			txn := st.Read()
			var looked, logs int
			for b.Loop() {
				plan, after := planExpiry(txn, hz, now, c.from)
				looked, logs = after.looked, len(plan.logContents)
			}
			if logs != 20 {
				b.Fatalf("%d logs to go, want 20", logs)
			}
			b.ReportMetric(float64(looked), "builds-looked")
		})
	}
}
