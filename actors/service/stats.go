package service

import (
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Stats are the master's own Prometheus metrics, served on /metrics.
type Stats struct {
	// Reconfigs counts reconfigurations by result: applied, rejected, dry_run.
	Reconfigs *prometheus.CounterVec
	// ReconfigSeconds times applied reconfigurations, receipt to last ack.
	ReconfigSeconds prometheus.Histogram
	// Dropped counts messages from other processes that were refused.
	Dropped *prometheus.CounterVec
	// LoginsRefused counts refused logins by listener (workers: both
	// worker protocols; www) and reason: wrong_credentials (an unknown
	// name or a wrong password), rate_limited, malformed. It counts every
	// one, logged or not (Runtime.Refusals drops lines past its budget).
	LoginsRefused *prometheus.CounterVec
	// WorkerConnections counts the workers' connections by event:
	// attached (ready for builds), detached (of one attached). It counts
	// every one, logged or not (Runtime.WorkerLines drops lines past its
	// budget).
	WorkerConnections *prometheus.CounterVec
	// DBCommands counts commands submitted to the db service, by result:
	// applied, refused (bad command), failed (the store failed).
	DBCommands *prometheus.CounterVec
	// Restarts counts actor restarts by kind, never going down (unlike
	// buildmaster_actor_restarts, which sums the live actors' counts).
	Restarts *prometheus.CounterVec
	// WebSocketClients is the number of connected /ws clients; the status
	// service sets it as clients come and go.
	WebSocketClients prometheus.Gauge
	// Workers counts the configured workers by state: connected, paused
	// (no new builds), quarantined (none until a deadline, after a build
	// ended EXCEPTION). The distributor, which knows all three, sets it.
	Workers *prometheus.GaugeVec
	// ReportsSent counts reports delivered (or skipped as not for the
	// target), by reporter; ReportsFailed the failed attempts, by reporter
	// and outcome: retry, or dropped (permanent, or past the lifetime).
	ReportsSent   *prometheus.CounterVec
	ReportsFailed *prometheus.CounterVec
	// LogBytes counts the bytes of log content the log writer took.
	LogBytes prometheus.Counter
}

func newStats(reg *prometheus.Registry, tree *Tree, db func() *state.Store) *Stats {
	s := &Stats{
		Reconfigs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "buildmaster_reconfigs_total", Help: "Reconfigurations by result.",
		}, []string{"result"}),
		ReconfigSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "buildmaster_reconfig_duration_seconds", Help: "Time to apply a reconfiguration.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "buildmaster_remote_dropped_messages_total", Help: "Messages from other processes refused, by reason.",
		}, []string{"reason"}),
		LoginsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "buildmaster_logins_refused_total", Help: "Logins refused, by listener (workers, www) and reason (wrong_credentials, rate_limited, malformed).",
		}, []string{"listener", "reason"}),
		WorkerConnections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "buildmaster_worker_connections_total", Help: "Worker connections by event (attached, detached), logged or not.",
		}, []string{"event"}),
		DBCommands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "buildmaster_db_commands_total", Help: "Commands submitted to the db service, by result.",
		}, []string{"result"}),
		Restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "buildmaster_actor_restarts_total", Help: "Actor restarts by kind, since the master started.",
		}, []string{"kind"}),
		WebSocketClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "buildmaster_websocket_clients", Help: "Connected /ws event stream clients.",
		}),
		Workers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "buildmaster_workers", Help: "Workers connected, paused, and in quarantine after a build ended EXCEPTION.",
		}, []string{"state"}),
		ReportsSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "buildmaster_reports_sent_total", Help: "Reports delivered, by reporter.",
		}, []string{"reporter"}),
		ReportsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "buildmaster_reports_failed_total", Help: "Failed report deliveries, by reporter and outcome (retry, dropped).",
		}, []string{"reporter", "outcome"}),
		LogBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "buildmaster_log_bytes_total", Help: "Bytes of log content written.",
		}),
	}
	reg.MustRegister(s.Reconfigs, s.ReconfigSeconds, s.Dropped, s.LoginsRefused, s.WorkerConnections, s.DBCommands, s.Restarts, s.WebSocketClients, s.Workers,
		s.ReportsSent, s.ReportsFailed, s.LogBytes, outboxCollector{db},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		treeCollector{tree})
	return s
}

// outboxCollector reports each reporter's outbox from the state at scrape
// time: the reports pending, and those refused because it was full.
type outboxCollector struct{ db func() *state.Store }

var (
	pendingDesc = prometheus.NewDesc("buildmaster_reports_pending", "Reports waiting in the outbox, by reporter.", []string{"reporter"}, nil)
	overCapDesc = prometheus.NewDesc("buildmaster_reports_dropped_outbox_full_total", "Reports refused because the outbox was full, by reporter.", []string{"reporter"}, nil)
)

func (outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- overCapDesc
}

func (c outboxCollector) Collect(ch chan<- prometheus.Metric) {
	db := c.db()
	if db == nil {
		return
	}
	for _, r := range state.Reporters(db.Read()) {
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(r.Pending), r.Name)
		ch <- prometheus.MustNewConstMetric(overCapDesc, prometheus.CounterValue, float64(r.Dropped), r.Name)
	}
}

// treeCollector reports the live tree at scrape time, summed by kind.
type treeCollector struct{ tree *Tree }

var (
	actorsDesc   = prometheus.NewDesc("buildmaster_actors", "Live actors by kind.", []string{"kind"}, nil)
	restartsDesc = prometheus.NewDesc("buildmaster_actor_restarts", "Restarts of live actors, summed by kind.", []string{"kind"}, nil)
	mailboxDesc  = prometheus.NewDesc("buildmaster_actor_mailbox_messages", "Messages waiting in live actors' mailboxes, summed by kind.", []string{"kind"}, nil)
)

func (treeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- actorsDesc
	ch <- restartsDesc
	ch <- mailboxDesc
}

func (c treeCollector) Collect(ch chan<- prometheus.Metric) {
	type sums struct{ n, restarts, mailbox float64 }
	by := map[string]*sums{}
	c.tree.mu.RLock()
	for _, n := range c.tree.nodes {
		s := by[n.Kind]
		if s == nil {
			s = &sums{}
			by[n.Kind] = s
		}
		s.n++
		s.restarts += float64(n.Restarts())
		s.mailbox += float64(n.Mailbox())
	}
	c.tree.mu.RUnlock()
	for kind, s := range by {
		ch <- prometheus.MustNewConstMetric(actorsDesc, prometheus.GaugeValue, s.n, kind)
		ch <- prometheus.MustNewConstMetric(restartsDesc, prometheus.GaugeValue, s.restarts, kind)
		ch <- prometheus.MustNewConstMetric(mailboxDesc, prometheus.GaugeValue, s.mailbox, kind)
	}
}
