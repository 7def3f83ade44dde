// Package metrics is the `metrics` service (Buildbot's MetricLogObserver).
// The master's Prometheus registry (service.Runtime.Metrics) is served on the
// debug endpoint's /metrics; this service writes a periodic report of the key
// figures to the log every `metrics.log_interval` (0 disables it).
//
// The package also owns what feeds the build metrics: Recorder (the
// master's service.Runtime.Applied), which the db service hands every
// command it has applied, and the gauges read from the state at scrape time.
//
// It accepts messages.ApplyConfig; a new interval takes effect at once.
package metrics

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{
		Name: paths.MetricsName, Kind: "metrics",
		Part: func(c *messages.MasterConfig) proto.Message { return c.GetMetrics() },
		New:  newMetrics,
	}
}

type logReport struct{}

type metricsService struct {
	service.Base
	cancel func() // stops the report ticker; nil when none runs
}

func newMetrics(rt *service.Runtime, s service.Spec) actor.Actor {
	m := &metricsService{Base: service.NewBase(rt, s)}
	m.OnConfig = m.schedule
	return m
}

// Receive implements actor.Actor.
func (m *metricsService) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case logReport:
		m.report()
	case *actor.Stopping, *actor.Restarting:
		m.stop()
	default:
		m.Base.Receive(ctx)
	}
}

func (m *metricsService) schedule(ctx actor.Context, cfg *messages.MasterConfig) {
	m.stop()
	if every := cfg.GetMetrics().GetLogInterval().AsDuration(); every > 0 {
		m.cancel = service.Every(m.RT.System.Root, every, ctx.Self(), logReport{})
	}
}

func (m *metricsService) stop() {
	if m.cancel != nil {
		m.cancel()
		m.cancel = nil
	}
}

func (m *metricsService) report() {
	root := m.RT.Tree.Snapshot(paths.Master)
	var actors, restarts, mailbox int64
	var walk func(*messages.TreeNode)
	walk = func(n *messages.TreeNode) {
		actors++
		restarts += n.GetRestarts()
		mailbox += n.GetMailbox()
		for _, c := range n.GetChildren() {
			walk(c)
		}
	}
	if root != nil {
		walk(root)
	}
	m.RT.Log.Info("metrics report", slog.Int64("actors", actors), slog.Int64("restarts", restarts),
		slog.Int64("mailbox", mailbox), slog.Uint64("generation", m.RT.Generation()),
		slog.Duration("interval", m.Config.GetMetrics().GetLogInterval().AsDuration().Truncate(time.Second)))
}
