package metrics

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// apply submits cmd to store and hands it to r, as the db service does.
func apply(t *testing.T, store *state.Store, r *Recorder, cmd *messages.Command) *messages.CommandResult {
	t.Helper()
	res, err := store.SubmitWait(context.Background(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	r.Applied(cmd, res)
	return res
}

// TestRecorderFollowsABuild: a change, two build requests, a build that
// claims one, a step with log output, and the build's end feed the
// counters, the histograms and the queue gauges.
func TestRecorderFollowsABuild(t *testing.T) {
	store := state.OpenEphemeral()
	defer store.Close()
	reg := prometheus.NewPedanticRegistry()
	r := NewRecorder(reg, store)

	master := apply(t, store, r, &messages.Command{Kind: &messages.Command_MasterStarted{MasterStarted: &messages.MasterStarted{Name: "m", Time: 1}}})
	apply(t, store, r, &messages.Command{Kind: &messages.Command_AddChange{AddChange: &messages.AddChange{
		Change: &messages.Change{Author: "a", Branch: "main", Revision: "abc", WhenTimestamp: 100}}}})
	bs := apply(t, store, r, &messages.Command{Kind: &messages.Command_AddBuildset{AddBuildset: &messages.AddBuildset{
		Reason: "force", SubmittedAt: 1000, BuilderNames: []string{"hello", "other"}}}})
	brid := bs.GetIds()[0]
	if got := testutil.ToFloat64(collectorOf(reg, "buildmaster_buildrequests_pending")); got != 2 {
		t.Fatalf("pending before the build: %v, want 2", got)
	}
	var builderid uint64
	for row := range state.Scan(store.Read(), state.TableBuilders, false) {
		if b := row.(*messages.Builder); b.Name == "hello" {
			builderid = b.Id
		}
	}
	build := apply(t, store, r, &messages.Command{Kind: &messages.Command_AddBuild{AddBuild: &messages.AddBuild{
		Builderid: builderid, Buildrequestid: brid, WorkerName: "w1", Masterid: master.GetId(), StartedAt: 1030,
		ClaimBrids: []uint64{brid}, Steps: []*messages.AddStep{{Name: "say", StartedAt: 1031, LogNames: []string{"stdio"}}}}}})
	stepid, logid := build.GetIds()[0], build.GetIds()[1]
	apply(t, store, r, &messages.Command{Kind: &messages.Command_AppendLog{AppendLog: &messages.AppendLog{Logid: logid, Content: "ohello\n"}}})
	apply(t, store, r, &messages.Command{Kind: &messages.Command_FinishStep{FinishStep: &messages.FinishStep{
		Stepid: stepid, Results: state.ResultSuccess, CompleteAt: 1033,
		Append: &messages.AppendLog{Logid: logid, Content: "obye\n"}}}})
	if got := testutil.ToFloat64(collectorOf(reg, "buildmaster_builds_running")); got != 1 {
		t.Fatalf("running: %v, want 1", got)
	}
	apply(t, store, r, &messages.Command{Kind: &messages.Command_FinishBuild{FinishBuild: &messages.FinishBuild{
		Buildid: build.GetId(), Results: state.ResultFailure, CompleteAt: 1090, Brids: []uint64{brid}}}})

	want := `
# HELP buildmaster_builds_finished_total Builds finished, by builder and result.
# TYPE buildmaster_builds_finished_total counter
buildmaster_builds_finished_total{builder="hello",result="failure"} 1
# HELP buildmaster_builds_running Builds running (started, not finished).
# TYPE buildmaster_builds_running gauge
buildmaster_builds_running 0
# HELP buildmaster_builds_started_total Builds started, by builder.
# TYPE buildmaster_builds_started_total counter
buildmaster_builds_started_total{builder="hello"} 1
# HELP buildmaster_buildrequests_pending Build requests waiting for a build (unclaimed, incomplete): the queue depth.
# TYPE buildmaster_buildrequests_pending gauge
buildmaster_buildrequests_pending 1
# HELP buildmaster_changes_total Changes received (from every change source).
# TYPE buildmaster_changes_total counter
buildmaster_changes_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "buildmaster_builds_finished_total", "buildmaster_builds_running",
		"buildmaster_builds_started_total", "buildmaster_buildrequests_pending", "buildmaster_changes_total"); err != nil {
		t.Fatal(err)
	}
	for name, sum := range map[string]float64{
		"buildmaster_build_duration_seconds":    60, // 1030 → 1090
		"buildmaster_step_duration_seconds":     2,  // 1031 → 1033
		"buildmaster_buildrequest_wait_seconds": 30, // submitted 1000, claimed 1030
	} {
		if got := histogramSum(t, reg, name); got != sum {
			t.Errorf("%s: sum %v, want %v", name, got, sum)
		}
	}
}

// collectorOf is a collector of reg's one metric named name, for
// testutil.ToFloat64.
func collectorOf(reg *prometheus.Registry, name string) prometheus.Collector {
	return gathered{reg, name}
}

type gathered struct {
	reg  *prometheus.Registry
	name string
}

func (g gathered) Describe(chan<- *prometheus.Desc) {}

func (g gathered) Collect(ch chan<- prometheus.Metric) {
	mfs, _ := g.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != g.name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(g.name, "", nil, nil), prometheus.GaugeValue, m.GetGauge().GetValue())
		}
	}
}

func histogramSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return sum
}
