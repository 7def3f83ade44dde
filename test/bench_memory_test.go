package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// liveHeapMB is the master's live heap: a collection is forced (pprof's
// heap profile with gc=1), then /metrics reads the heap allocated.
func liveHeapMB(b *testing.B, m *master) float64 {
	b.Helper()
	resp, err := httpClient.Get("http://" + m.debug + "/debug/pprof/heap?gc=1")
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return metricValue(b, m, "go_memstats_heap_alloc_bytes", "") / (1 << 20)
}

// memoryBody is n builders b0000… each on its own worker w0000…, whose one
// step waits for the file gate, and a builder "pending" on a worker that
// never connects; a force scheduler for all.
func memoryBody(n int, gate string) string {
	var sb strings.Builder
	sb.WriteString("workers:\n  - {name: nobody, password: pw}\n")
	for i := range n {
		fmt.Fprintf(&sb, "  - {name: w%04d, password: pw%04d}\n", i, i)
	}
	sb.WriteString("builders:\n  - {name: pending, workers: [nobody], steps: [{shell: {command: [true]}}]}\n")
	names := []string{"pending"}
	for i := range n {
		fmt.Fprintf(&sb, "  - name: b%04d\n    workers: [w%04d]\n    steps:\n      - shell: {script: 'while [ ! -e %s ]; do sleep 1; done'}\n", i, i, gate)
		names = append(names, fmt.Sprintf("b%04d", i))
	}
	fmt.Fprintf(&sb, "schedulers:\n  - {name: force, type: force, builders: [%s]}\n", strings.Join(names, ", "))
	return sb.String()
}

// forceHTTP forces a build of builder through the data API's JSON-RPC.
func (m *master) forceHTTP(b *testing.B, builder string) {
	rpc := fmt.Sprintf(`{"jsonrpc":"2.0","method":"force","id":1,"params":{"builderNames":[%q],"reason":"bench"}}`, builder)
	req, _ := http.NewRequest(http.MethodPost, "http://"+m.www+"/api/v2/forceschedulers/force", strings.NewReader(rpc))
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := httpClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"result"`) {
		b.Fatalf("force %s: %d %s", builder, resp.StatusCode, body)
	}
}

// total reads meta.total of a data API collection.
func (m *master) total(b *testing.B, path string) int {
	_, body := m.wwwGet(path)
	sm := regexp.MustCompile(`"total":\s*(\d+)`).FindSubmatch(body)
	if sm == nil {
		b.Fatalf("GET %s: %s", path, body)
	}
	n, _ := strconv.Atoi(string(sm[1]))
	return n
}

// BenchmarkMemoryPerUnit measures what the master holds per builder,
// connected worker, pending build request and running build: the live
// heap (after a forced collection) and VmRSS of the real master, before
// and after adding N of each (BM_BENCH_MEMORY_N, default 200): builders by
// a reconfig, workers run in this process (internal/worker, one actor
// system and connection each), requests forced on a builder whose worker
// never connects, and running builds of one step each waiting on a file.
func BenchmarkMemoryPerUnit(b *testing.B) {
	n := benchSize("BM_BENCH_MEMORY_N", 200, 4)
	masterBin, _ := plainBinaries(b)
	gate := filepath.Join(b.TempDir(), "gate")
	for range b.N {
		m := newMaster(b, "")
		m.start(masterBin)
		type point struct{ heap, rss float64 }
		measure := func() point {
			time.Sleep(time.Second)
			h := liveHeapMB(b, m)
			r, _ := procMemMB(b, m.cmd.Process.Pid)
			return point{h, r}
		}
		report := func(what string, from, to point) {
			b.ReportMetric((to.heap-from.heap)*1024/float64(n), what+"-heap-KB")
			b.ReportMetric((to.rss-from.rss)*1024/float64(n), what+"-rss-KB")
		}
		empty := measure()

		m.writeConfig(memoryBody(n, gate))
		if out, errOut, code := m.cli("reconfig"); code != 0 {
			b.Fatalf("reconfig: %d %s%s", code, out, errOut)
		}
		waitBuilders(b, m, n+1)
		builders := measure()
		report("builder", empty, builders)

		stopWorkers := runInprocWorkers(b, m, n, 15*time.Minute)
		workers := measure()
		report("worker", builders, workers)

		for range n {
			m.forceHTTP(b, "pending")
		}
		pending := measure()
		report("pending-request", workers, pending)

		for i := range n {
			m.forceHTTP(b, fmt.Sprintf("b%04d", i))
		}
		for deadline := time.Now().Add(5 * time.Minute); m.total(b, "/api/v2/builds?complete=false&field=buildid") < n; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatal("the builds did not all start their step")
			}
		}
		running := measure()
		report("running-build", pending, running)
		b.ReportMetric(running.rss, "rss-MB")

		os.WriteFile(gate, nil, 0o644)
		m.signal(syscall.SIGKILL)
		m.wait()
		stopWorkers()
	}
}

// BenchmarkLogReadersRSS: a build prints a 100 MB log (BM_BENCH_LOG_MB),
// then 8 clients GET its /raw at once, then 8 its /contents, each reading
// to the end; the master's VmRSS is sampled every 5 ms. It reports the
// RSS before the readers and its largest growth during each round (issue
// 13 point 11: reading a log must not allocate it).
func BenchmarkLogReadersRSS(b *testing.B) {
	mb := benchSize("BM_BENCH_LOG_MB", 100, 2)
	for range b.N {
		m := printingMaster(b, fmt.Sprintf(`head -c %d /dev/zero | tr "\\0" x | fold -w 99`, mb<<20))
		m.forceHTTP(b, "big")
		build := waitFinished(b, m, "big", 1, time.Hour)
		var logs struct {
			Logs []struct {
				Logid    uint64
				NumLines int64 `json:"num_lines"`
			}
		}
		_, body := m.wwwGet(fmt.Sprintf("/api/v2/builds/%d/steps/print/logs", build.Buildid))
		if err := json.Unmarshal(body, &logs); err != nil || len(logs.Logs) != 1 {
			b.Fatalf("logs of print: %v %s", err, body)
		}
		logid := logs.Logs[0].Logid
		b.Logf("log %d: %d lines", logid, logs.Logs[0].NumLines)
		time.Sleep(2 * time.Second)
		before, _ := procMemMB(b, m.cmd.Process.Pid)
		b.ReportMetric(before, "rss-before-MB")
		for _, what := range []string{"raw", "contents"} {
			rss := sampleRSS(b, m.cmd.Process.Pid, 5*time.Millisecond)
			var wg sync.WaitGroup
			var read atomic.Int64
			start := time.Now()
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// No client timeout: reading a large log takes minutes.
					resp, err := (&http.Client{}).Get(fmt.Sprintf("http://%s/api/v2/logs/%d/%s", m.www, logid, what))
					if err != nil {
						b.Error(err)
						return
					}
					defer resp.Body.Close()
					n, err := io.Copy(io.Discard, resp.Body)
					if err != nil || resp.StatusCode != 200 {
						b.Errorf("GET %s: %d %v", what, resp.StatusCode, err)
					}
					read.Add(n)
				}()
			}
			wg.Wait()
			took := time.Since(start)
			b.ReportMetric(rss.Peak()-before, what+"-rss-growth-MB")
			b.ReportMetric(float64(read.Load())/(1<<20)/took.Seconds(), what+"-MB/s")
			b.Logf("%s: 8 readers read %d MB in %v", what, read.Load()>>20, took.Round(time.Millisecond))
		}
		m.signal(syscall.SIGKILL)
		m.wait()
	}
}
