package caches

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/buildmaster/buildmaster/internal/cache"
)

var (
	hitsDesc      = prometheus.NewDesc("buildmaster_cache_hits_total", "Reads a cache answered.", []string{"cache"}, nil)
	missesDesc    = prometheus.NewDesc("buildmaster_cache_misses_total", "Reads a cache did not answer.", []string{"cache"}, nil)
	evictionsDesc = prometheus.NewDesc("buildmaster_cache_evictions_total", "Entries dropped to make room.", []string{"cache"}, nil)
	entriesDesc   = prometheus.NewDesc("buildmaster_cache_entries", "Entries a cache holds.", []string{"cache"}, nil)
	sizeDesc      = prometheus.NewDesc("buildmaster_cache_size", "The most entries a cache holds (caches.<name>).", []string{"cache"}, nil)
)

// collector reads a Set's figures when /metrics is scraped.
type collector struct{ set *cache.Set }

// Describe implements prometheus.Collector.
func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{hitsDesc, missesDesc, evictionsDesc, entriesDesc, sizeDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.set.Stats() {
		ch <- prometheus.MustNewConstMetric(hitsDesc, prometheus.CounterValue, float64(s.Hits), s.Name)
		ch <- prometheus.MustNewConstMetric(missesDesc, prometheus.CounterValue, float64(s.Misses), s.Name)
		ch <- prometheus.MustNewConstMetric(evictionsDesc, prometheus.CounterValue, float64(s.Evictions), s.Name)
		ch <- prometheus.MustNewConstMetric(entriesDesc, prometheus.GaugeValue, float64(s.Entries), s.Name)
		ch <- prometheus.MustNewConstMetric(sizeDesc, prometheus.GaugeValue, float64(s.Size), s.Name)
	}
}
