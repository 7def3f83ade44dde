package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/buildmaster/buildmaster/internal/state"
)

// stateCollector reports what is live in the state at scrape time, from one
// read transaction: the queue (unclaimed build requests) and the running
// builds. Each count walks an index of what is live, never the history.
// (The workers' gauges are the distributor's: service.Stats.Workers.)
type stateCollector struct{ store *state.Store }

var (
	pendingDesc = prometheus.NewDesc("buildmaster_buildrequests_pending", "Build requests waiting for a build (unclaimed, incomplete): the queue depth.", nil, nil)
	runningDesc = prometheus.NewDesc("buildmaster_builds_running", "Builds running (started, not finished).", nil, nil)
)

func (stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- runningDesc
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.store == nil {
		return
	}
	txn := c.store.Read()
	count := func(table, index string) float64 {
		n := 0
		for range state.ScanIndex(txn, table, index+"_prefix", false) {
			n++
		}
		return float64(n)
	}
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, count(state.TableBuildRequests, state.IndexUnclaimed))
	ch <- prometheus.MustNewConstMetric(runningDesc, prometheus.GaugeValue, count(state.TableBuilds, state.IndexIncompleteBy))
}
