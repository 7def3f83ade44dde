package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

const reportersConfig = `
collapse_requests: false
workers:
  - {name: w1, password: pw1}
builders:
  - {name: quick, workers: [w1], steps: [{shell: {command: ["true"]}}]}
schedulers:
  - {name: force, type: force, builders: [quick]}
reporters:
  - {name: hook, type: http_push, url: %q, retry_initial: 20ms, retry_max: 100ms}
`

// hookTarget is an http_push target that answers 503 while down and
// records, once up, each report it takes as (buildid, complete).
type hookTarget struct {
	up  atomic.Bool
	mu  sync.Mutex
	got []hookReport
}

type hookReport struct {
	BuildID  uint64 `json:"buildid"`
	Complete bool   `json:"complete"`
}

func (h *hookTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if !h.up.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var rep hookReport
	if err := json.Unmarshal(body, &rep); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.got = append(h.got, rep)
	h.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (h *hookTarget) reports() []hookReport {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookReport(nil), h.got...)
}

// TestReportsSurviveKill: 20 builds finish while the target is down (40
// reports pending: each build's start and end); the master is killed with
// SIGKILL; the target comes back and the master restarts: every report is
// delivered once, each build's start before its end.
func TestReportsSurviveKill(t *testing.T) {
	t.Parallel()
	const builds = 20
	hook := &hookTarget{}
	srv := &http.Server{Handler: hook}
	l := testkit.Listen(t)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	m := startMaster(t, fmt.Sprintf(reportersConfig, "http://"+l.Addr().String()+"/hook"))
	startWorker(t, m, "w1", "pw1")
	for range builds {
		m.force("quick")
	}
	m.waitBuild("quick", builds)
	m.waitMetric(fmt.Sprintf(`buildmaster_reports_pending\{reporter="hook"\} %d`, 2*builds))
	// The master page shows the reporter with its backlog.
	row := fmt.Sprintf("<td>hook</td><td>http_push</td><td>%d</td>", 2*builds)
	testkit.Retry(t, func() error {
		if _, page, _ := m.wwwGetAny("/master"); !bytes.Contains(page, []byte(row)) {
			return fmt.Errorf("/master has no row %s:\n%s", row, page)
		}
		return nil
	})
	m.signal(syscall.SIGKILL)
	m.wait()

	hook.up.Store(true)
	m.start(binary)
	m.waitMetric(`buildmaster_reports_pending\{reporter="hook"\} 0`)
	got := hook.reports()
	if len(got) != 2*builds {
		t.Fatalf("%d reports delivered, want %d: %v", len(got), 2*builds, got)
	}
	seen := map[hookReport]bool{}
	for _, r := range got {
		if seen[r] {
			t.Errorf("report %v delivered twice", r)
		}
		if r.Complete && !seen[hookReport{r.BuildID, false}] {
			t.Errorf("build %d: its end arrived before its start", r.BuildID)
		}
		seen[r] = true
	}
	m.waitMetric(fmt.Sprintf(`buildmaster_reports_sent_total\{reporter="hook"\} %d`, 2*builds))
}
