package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// scrape reads the /metrics of the debug listener at addr.
func scrape(addr string) (string, error) {
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+addr+"/metrics", nil)
	// Uncompressed: a gzip writer costs the master some 800 KiB per scrape,
	// which benchmarks that scrape twice would count as the run's.
	req.Header.Set("Accept-Encoding", "identity")
	res, err := httpClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var b strings.Builder
	_, err = io.Copy(&b, bufio.NewReader(res.Body))
	return b.String(), err
}

// metricSamples are the values of metric name in a /metrics body
// (Prometheus' text format), by their labels as written between the braces
// (`kind="builder"`; "" for none).
func metricSamples(body, name string) map[string]float64 {
	out := map[string]float64{}
	for line := range strings.Lines(body) {
		rest, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), name)
		if !ok {
			continue
		}
		labels := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		}
		value, ok := strings.CutPrefix(rest, " ") // not another name that starts with name
		if !ok {
			continue
		}
		value, _, _ = strings.Cut(value, " ") // a timestamp may follow
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[labels] = v
		}
	}
	return out
}

// metricValue is the value of metric name with labels (as metricSamples
// keys them) in the /metrics of the master m; it fails tb when there is none.
func metricValue(tb testing.TB, m *master, name, labels string) float64 {
	tb.Helper()
	body, err := scrape(m.debug)
	if err != nil {
		tb.Fatal(err)
	}
	v, ok := metricSamples(body, name)[labels]
	if !ok {
		tb.Fatalf("/metrics has no %s{%s}", name, labels)
	}
	return v
}

func TestMetricSamples(t *testing.T) {
	body := `# HELP go_memstats_alloc_bytes Number of bytes allocated in heap and currently in use.
# TYPE go_memstats_alloc_bytes gauge
go_memstats_alloc_bytes 1.5e+06
go_memstats_alloc_bytes_total 7
buildmaster_actors{kind="builder"} 12
buildmaster_actors{kind="worker"} 3 1700000000000
buildmaster_http_request_seconds_total{listener="www",path="/{x}"} 0.25
`
	for _, c := range []struct {
		name, want string
	}{
		{"go_memstats_alloc_bytes", "map[:1.5e+06]"},
		{"go_memstats_alloc_bytes_total", "map[:7]"},
		{"buildmaster_actors", `map[kind="builder":12 kind="worker":3]`},
		{"buildmaster_http_request_seconds_total", `map[listener="www",path="/{x}":0.25]`},
		{"go_memstats", "map[]"},
	} {
		if got := fmt.Sprint(metricSamples(body, c.name)); got != c.want {
			t.Errorf("metricSamples(%s) = %s, want %s", c.name, got, c.want)
		}
	}
}
