package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// Recorder turns the commands the db service applies into the master's
// build metrics: the one place they are fed from, so no actor counts
// builds, steps or changes by itself (log bytes never reach the state: the
// log writer counts them, service.Stats.LogBytes). Its Applied is
// service.Runtime.Applied. The gauges (queue depth, running builds,
// workers) are read from the state at scrape time instead (stateCollector).
type Recorder struct {
	store *state.Store

	buildsStarted  *prometheus.CounterVec
	buildsFinished *prometheus.CounterVec
	buildSeconds   *prometheus.HistogramVec
	stepSeconds    *prometheus.HistogramVec
	queueWait      prometheus.Histogram
	changes        prometheus.Counter
}

// durationBuckets (seconds) span a one-second step to a day-long build;
// the state records times to the second.
var durationBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400}

// NewRecorder registers the build metrics and the state gauges of store
// with reg and returns the recorder that feeds them.
func NewRecorder(reg prometheus.Registerer, store *state.Store) *Recorder {
	r := &Recorder{
		store: store,
		buildsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "buildmaster_builds_started_total", Help: "Builds started, by builder.",
		}, []string{"builder"}),
		buildsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "buildmaster_builds_finished_total", Help: "Builds finished, by builder and result.",
		}, []string{"builder", "result"}),
		buildSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "buildmaster_build_duration_seconds", Help: "Time from a build's start to its end, by result.",
			Buckets: durationBuckets,
		}, []string{"result"}),
		stepSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "buildmaster_step_duration_seconds", Help: "Time from a step's start to its end, by result.",
			Buckets: durationBuckets,
		}, []string{"result"}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "buildmaster_buildrequest_wait_seconds", Help: "Time a build request waited from submission until a build claimed it.",
			Buckets: durationBuckets,
		}),
		changes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "buildmaster_changes_total", Help: "Changes received (from every change source).",
		}),
	}
	reg.MustRegister(r.buildsStarted, r.buildsFinished, r.buildSeconds, r.stepSeconds, r.queueWait, r.changes,
		stateCollector{store})
	return r
}

// Applied records one applied command (see service.Runtime.Applied). It
// reads what the command does not carry (a build's builder and start) from
// the state, which already shows the command.
func (r *Recorder) Applied(cmd *messages.Command, _ *messages.CommandResult) {
	switch k := cmd.GetKind().(type) {
	case *messages.Command_AddChange:
		r.changes.Inc()
	case *messages.Command_AddBuild:
		r.buildStarted(k.AddBuild)
	case *messages.Command_ClaimBuildRequests:
		r.claimed(k.ClaimBuildRequests.GetBrids(), k.ClaimBuildRequests.GetClaimedAt())
	case *messages.Command_FinishStep:
		r.stepFinished(k.FinishStep)
	case *messages.Command_FinishBuild:
		r.buildFinished(k.FinishBuild)
	}
}

func (r *Recorder) buildStarted(c *messages.AddBuild) {
	r.buildsStarted.WithLabelValues(r.builderName(c.GetBuilderid())).Inc()
	r.claimed(c.GetClaimBrids(), c.GetStartedAt())
}

// claimed observes how long the requests brids waited until at.
func (r *Recorder) claimed(brids []uint64, at int64) {
	if len(brids) == 0 || r.store == nil {
		return
	}
	txn := r.store.Read()
	for _, id := range brids {
		if br, ok := state.Lookup(txn, state.TableBuildRequests, id).(*messages.BuildRequest); ok {
			r.queueWait.Observe(float64(max(0, at-br.GetSubmittedAt())))
		}
	}
}

func (r *Recorder) stepFinished(c *messages.FinishStep) {
	if c == nil {
		return
	}
	if r.store == nil {
		return
	}
	if s, ok := state.Lookup(r.store.Read(), state.TableSteps, c.GetStepid()).(*messages.Step); ok {
		r.stepSeconds.WithLabelValues(report.Result(c.GetResults()).String()).Observe(float64(max(0, c.GetCompleteAt()-s.GetStartedAt())))
	}
}

func (r *Recorder) buildFinished(c *messages.FinishBuild) {
	r.stepFinished(c.GetLastStep())
	if r.store == nil {
		return
	}
	b, ok := state.Lookup(r.store.Read(), state.TableBuilds, c.GetBuildid()).(*messages.Build)
	if !ok {
		return
	}
	result := report.Result(c.GetResults()).String()
	r.buildsFinished.WithLabelValues(r.builderName(b.GetBuilderid()), result).Inc()
	r.buildSeconds.WithLabelValues(result).Observe(float64(max(0, c.GetCompleteAt()-b.GetStartedAt())))
}

// builderName is the name of the builder id, or "" when unknown.
func (r *Recorder) builderName(id uint64) string {
	if r.store == nil {
		return ""
	}
	b, _ := state.Lookup(r.store.Read(), state.TableBuilders, id).(*messages.Builder)
	return b.GetName()
}
