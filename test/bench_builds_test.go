package test

// Benchmarks of builds through the real processes: a buildmaster and
// buildworker processes, both built without -race (once per test process),
// the master durable (raft, fsynced) and logging at info level in JSON, as
// an operator would run it.
//
//	BenchmarkBuildThroughput   N builds of one `true` step, queued as N
//	                           changes (a single_branch scheduler without
//	                           tree_stable_timer: one buildset per change)
//	                           sent by a Go client 8 at a time: builds/s from
//	                           the first change to the last "build finished",
//	                           the master's CPU (utime+stime) per build, its
//	                           raft log entries (durable commands) and heap
//	                           allocations (objects, KiB) and minor page
//	                           faults per build; the
//	                           workers' CPU, their commands' and, for the
//	                           master and the workers, the time they were
//	                           runnable but waited for a CPU (on a shared
//	                           machine, where the wall time goes) per build;
//	                           with buildworkers, and with Debian's
//	                           buildbot-worker over msgpack and over PB
//	BenchmarkChangeLatency     one change at a time: from the sendchange
//	                           answer (the change is durable) to the master's
//	                           "build started" log line (the build and its
//	                           properties are durable): p50/p95
//	BenchmarkIdleWorkersRSS    the master's VmRSS with 1,000 builders and K
//	                           idle connected workers: buildworker processes
//	                           (procs=K), or 1,000 run in this process
//	                           (inproc=1000)
//
// Environment:
//
//	BM_BENCH_BUILDS=N          builds per throughput run (default 400)
//	BM_BENCH_WARMUP=N          builds each throughput run (and
//	                           BenchmarkBuildbotMaster) runs on the same
//	                           master and workers before it measures
//	                           (default 0: a fresh master; 4 with -short,
//	                           so that CI runs the warm-up). A fresh Go
//	                           master's heap grows into 64 MiB of fresh
//	                           pages before its first collection (about
//	                           500 builds), each page a fault; after that
//	                           it reuses them: a warm-up of 600 measures
//	                           the master an operator runs for days
//	BM_BENCH_IDLE_WORKERS=K    worker processes for the RSS benchmark
//	                           (default 200; each is a ~20 MB process)
//	BM_BENCH_INPROC_WORKERS=K  in-process workers for it (default 1000)
//	BM_BENCH_PPROF=DIR         save into DIR the master's CPU profile of
//	                           each throughput and latency run (10 s and
//	                           5 s), what it allocated in the run (see
//	                           profileMaster; the master then samples one
//	                           allocation per 4 KiB, GODEBUG=memprofilerate)
//	                           and its heap profile once the RSS
//	                           benchmark's workers are connected. Such a
//	                           run's minflt, gcs and CPU figures are not
//	                           those of a plain run: the allocation
//	                           profile's base collects just before the
//	                           measured window, so the heap reuses freed
//	                           pages instead of growing into fresh ones
//	BM_BENCH_WORKER_PPROF=DIR  build buildworker with -tags benchprofile:
//	                           each buildworker then writes the CPU profile
//	                           of its first BM_BENCH_WORKER_PPROF_SECONDS
//	                           (default 15) to DIR/buildworker-PID.pprof
//
//	go test -run XXX -bench 'BuildThroughput|ChangeLatency|IdleWorkersRSS' -benchtime 1x ./test/

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/control"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

var (
	plainOnce                sync.Once
	plainMaster, plainWorker string
	plainErr                 error
	plainBuildOut            []byte
)

const (
	benchBuildsDefault         = 400
	benchIdleWorkersDefault    = 200
	benchChangesPerLatencyTest = 50
)

// plainBinaries builds buildmaster and buildworker once per process, next
// to TestMain's raced ones (removed with them), the way README's "Running
// a master" builds a binary to install: without -race and static
// (CGO_ENABLED=0: no dynamic loader and C library to start, 5-8% less CPU
// per CLI call).
func plainBinaries(b *testing.B) (masterBin, workerBin string) {
	b.Helper()
	plainOnce.Do(func() {
		dir := filepath.Join(filepath.Dir(binary), "plain")
		plainMaster, plainWorker = filepath.Join(dir, "buildmaster"), filepath.Join(dir, "buildworker")
		for bin, pkg := range map[string]string{plainMaster: "../cmd/buildmaster", plainWorker: "../cmd/buildworker"} {
			args := []string{"build", "-o", bin}
			if bin == plainWorker && os.Getenv("BM_BENCH_WORKER_PPROF") != "" {
				args = append(args, "-tags", "benchprofile")
			}
			cmd := exec.Command("go", append(args, pkg)...)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if plainBuildOut, plainErr = cmd.CombinedOutput(); plainErr != nil {
				return
			}
		}
	})
	if plainErr != nil {
		b.Fatalf("go build: %v\n%s", plainErr, plainBuildOut)
	}
	return plainMaster, plainWorker
}

// benchSize is a benchmark's size: $name when set, else small with -short
// (CI runs every benchmark once, small, so that none rots), else def.
func benchSize(name string, def, small int) int {
	if testing.Short() {
		def = small
	}
	return envInt(name, def)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// waitConnected waits, up to within, until every worker of ws says it is
// connected.
func waitConnected(b *testing.B, ws []*worker, within time.Duration) {
	b.Helper()
	testkit.Retry(b, func() error {
		n := 0
		for _, w := range ws {
			if w.connected() {
				n++
			}
		}
		if n < len(ws) {
			return fmt.Errorf("%d of %d workers connected", n, len(ws))
		}
		return nil
	}, testkit.Within(within))
}

// procCPU is the utime+stime of process pid.
func procCPU(b *testing.B, pid int) time.Duration {
	own, _ := procCPUs(b, pid)
	return own
}

// procMinflt is how many minor page faults process pid has taken (the
// tenth field of /proc/PID/stat): each is a trap into the kernel, dear
// under a hypervisor.
func procMinflt(b *testing.B, pid int) uint64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	n, _ := strconv.ParseUint(f[7], 10, 64)
	return n
}

// procCPUs is the utime+stime of process pid, and the cutime+cstime of its
// children it has reaped (a worker's commands).
func procCPUs(b *testing.B, pid int) (own, children time.Duration) {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	tick := func(i int) time.Duration {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		return time.Duration(n) * time.Second / 100 // USER_HZ
	}
	return tick(11) + tick(12), tick(13) + tick(14)
}

// procRunqueue is how long the threads of process pid that are alive now
// have been runnable but waiting for a CPU (the second field of
// /proc/PID/task/*/schedstat): on a machine with more runnable threads than
// cores, the part of a process's wall time that is neither its own CPU
// nor a wait on its peers.
func procRunqueue(b *testing.B, pid int) time.Duration {
	b.Helper()
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil {
		b.Fatal(err)
	}
	var wait time.Duration
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			continue // the thread has exited
		}
		if f := strings.Fields(string(data)); len(f) >= 2 {
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			wait += time.Duration(ns)
		}
	}
	return wait
}

// procsStat is what the processes pids have used: their own CPU, their
// reaped children's (a worker's commands) and their run-queue wait.
type procsStat struct{ own, children, runqueue time.Duration }

// procsStats sums procCPUs and procRunqueue over the processes pids.
func procsStats(b *testing.B, pids []int) (s procsStat) {
	for _, pid := range pids {
		o, c := procCPUs(b, pid)
		s.own, s.children, s.runqueue = s.own+o, s.children+c, s.runqueue+procRunqueue(b, pid)
	}
	return s
}

// add is s + t, field by field.
func (s procsStat) add(t procsStat) procsStat {
	return procsStat{s.own + t.own, s.children + t.children, s.runqueue + t.runqueue}
}

// sub is s − t, field by field.
func (s procsStat) sub(t procsStat) procsStat {
	return procsStat{s.own - t.own, s.children - t.children, s.runqueue - t.runqueue}
}

// sendChange sends one change on branch main to m and waits for its id, as
// `buildmaster sendchange` does, without a process per change.
func sendChange(b *testing.B, c *control.Client, m *master, rev string) uint64 {
	res, err := ask.Reply[*messages.SendChangeResponse](c.Call(context.Background(), paths.Changes, &messages.SendChangeRequest{Token: m.token,
		Change: &messages.Change{Author: "bench <bench@example.org>", Branch: "main", Revision: rev, Comments: "bench " + rev}},
		60*time.Second))
	if err != nil {
		b.Error(err)
		return 0
	}
	return res.GetChangeid()
}

// sendChanges sends n changes with revisions prefix1…prefixN to m, 8 at a
// time, and returns when every one is durable.
func sendChanges(b *testing.B, c *control.Client, m *master, prefix string, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				sendChange(b, c, m, fmt.Sprintf("%s%d", prefix, i))
			}
		})
	}
	wg.Wait()
}

// waitBuildsFinished waits until m has logged n "build finished" lines
// past its first from lines of stderr.
func waitBuildsFinished(b *testing.B, m *master, from, n int) {
	deadline := time.Now().Add(10 * time.Minute)
	for countLines(m.stderr, from, `"msg":"build finished"`) < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d builds finished", countLines(m.stderr, from, `"msg":"build finished"`), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// countLines counts the lines of l from the first `from` that contain s.
func countLines(l *lines, from int, s string) int {
	n := 0
	all := l.snapshot()
	for _, line := range all[min(from, len(all)):] {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// profileMaster saves the master's CPU profile and runtime trace of the
// next seconds into BM_BENCH_PPROF/name.pprof and name.trace when that is
// set, and its allocation profiles at the call and when the returned func
// is called (wait for it) into name.allocs-base.pprof and name.allocs.pprof:
// `go tool pprof -sample_index=alloc_space -base name.allocs-base.pprof
// name.allocs.pprof` shows what the run allocated. Both are taken after a
// forced collection (heap?gc=1): the runtime publishes its allocation
// profile only at the end of a collection, and the master may run none
// during a run (its heap grows 64 MiB first), so a delta of the allocs
// profile over the run (allocs?seconds=N) is empty.
func profileMaster(b *testing.B, m *master, name string, seconds int) func() {
	dir := os.Getenv("BM_BENCH_PPROF")
	if dir == "" {
		return func() {}
	}
	url := func(path string) string { return fmt.Sprintf("http://%s/debug/pprof/%s", m.debug, path) }
	saveURL(b, url("heap?gc=1"), filepath.Join(dir, name+".allocs-base.pprof"))
	var wg sync.WaitGroup
	for file, path := range map[string]string{name + ".pprof": "profile", name + ".trace": "trace"} {
		wg.Go(func() { saveURL(b, url(fmt.Sprintf("%s?seconds=%d", path, seconds)), filepath.Join(dir, file)) })
	}
	return func() {
		wg.Wait()
		saveURL(b, url("heap?gc=1"), filepath.Join(dir, name+".allocs.pprof"))
	}
}

// throughputBody: workers w0…w(nw-1) (max_builds 1), and either one builder
// per worker or one builder over all of them, each build one `true` step,
// collapse_requests off; a single_branch scheduler on main lists them all.
func throughputBody(nw int, shared bool) string {
	var sb strings.Builder
	sb.WriteString("workers:\n")
	var names []string
	for i := range nw {
		fmt.Fprintf(&sb, "  - {name: w%d, password: pw%d, max_builds: 1}\n", i, i)
		names = append(names, fmt.Sprintf("w%d", i))
	}
	sb.WriteString("builders:\n")
	var builders []string
	if shared {
		fmt.Fprintf(&sb, "  - {name: b, workers: [%s], collapse_requests: false, steps: [{shell: {command: ['true']}}]}\n", strings.Join(names, ", "))
		builders = []string{"b"}
	} else {
		for i := range nw {
			fmt.Fprintf(&sb, "  - {name: b%d, workers: [w%d], collapse_requests: false, steps: [{shell: {command: ['true']}}]}\n", i, i)
			builders = append(builders, fmt.Sprintf("b%d", i))
		}
	}
	fmt.Fprintf(&sb, "schedulers:\n  - {name: main, type: single_branch, branch: main, builders: [%s]}\n", strings.Join(builders, ", "))
	return sb.String()
}

// BenchmarkBuildThroughput: builds/s end to end with real workers running
// `true`. Sub-benchmarks: 1 worker; 4 workers each with its own builder
// (one change makes 4 requests); 4 workers sharing one builder.
func BenchmarkBuildThroughput(b *testing.B) {
	n := benchSize("BM_BENCH_BUILDS", benchBuildsDefault, 8)
	for _, c := range []struct {
		name   string
		nw     int
		shared bool
		kind   *workerKind // nil: the non-race buildworker
	}{
		{"workers=1", 1, true, nil}, {"workers=4/builders=4", 4, false, nil}, {"workers=4/builders=1", 4, true, nil},
		{"buildbot-worker/msgpack/workers=4/builders=4", 4, false, new(buildbotWorkerKind("msgpack"))},
		{"buildbot-worker/pb/workers=4/builders=4", 4, false, new(buildbotWorkerKind("pb"))},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.StopTimer() // the build of the binaries is not measured
			masterBin, workerBin := plainBinaries(b)
			perChange := c.nw
			if c.shared {
				perChange = 1
			}
			nChanges := n / perChange
			builds := nChanges * perChange
			var wall, cpu, mwait time.Duration
			var wsum procsStat // the workers'
			var entries, faults uint64
			var allocs, allocBytes, gcs float64
			for run := range b.N {
				b.StopTimer()
				m := newMaster(b, throughputBody(c.nw, c.shared))
				m.start(masterBin, "--log-format", "json")
				var ws []*worker
				var wpids []int
				for i := range c.nw {
					name, pw := fmt.Sprintf("w%d", i), fmt.Sprintf("pw%d", i)
					if c.kind == nil {
						w := startWorkerProcess(b, workerBin, m, "warn", name, pw)
						ws, wpids = append(ws, w), append(wpids, w.cmd.Process.Pid)
					} else {
						w := c.kind.start(b, m, name, pw, filepath.Join(m.dir, "worker-"+name))
						wpids = append(wpids, w.cmd.Process.Pid)
					}
				}
				waitConnected(b, ws, 60*time.Second)
				for i := range c.nw {
					m.waitConnected(fmt.Sprintf("w%d", i))
				}
				pid := m.cmd.Process.Pid
				// One client for all the changes: it keeps its connections.
				ctl := control.NewClient(m.remote)
				defer ctl.Close()
				warm := benchSize("BM_BENCH_WARMUP", 0, 4) / perChange * perChange // builds
				if warm > 0 {
					from := m.stderr.count()
					sendChanges(b, ctl, m, fmt.Sprintf("warm%d-", run), warm/perChange)
					waitBuildsFinished(b, m, from, warm)
				}
				from := m.stderr.count()
				stopProfile := profileMaster(b, m, fmt.Sprintf("throughput-%s-%d", strings.ReplaceAll(c.name, "/", "-"), run), 10)
				b.StartTimer()
				i0 := raftIndex(m)
				a0 := masterAllocs(b, m)
				c0, q0, t0 := procCPU(b, pid), procRunqueue(b, pid), time.Now()
				f0 := procMinflt(b, pid)
				w0 := procsStats(b, wpids)
				sendChanges(b, ctl, m, fmt.Sprintf("r%d-", run), nChanges)
				queued := time.Since(t0)
				waitBuildsFinished(b, m, from, builds)
				took, used, waited := time.Since(t0), procCPU(b, pid)-c0, procRunqueue(b, pid)-q0
				wused := procsStats(b, wpids).sub(w0)
				wall, cpu, mwait = wall+took, cpu+used, mwait+waited
				wsum = wsum.add(wused)
				faults += procMinflt(b, pid) - f0
				entries += raftIndex(m) - i0
				a1 := masterAllocs(b, m)
				allocs, allocBytes, gcs = allocs+a1.objects-a0.objects, allocBytes+a1.bytes-a0.bytes, gcs+a1.gcs-a0.gcs
				b.StopTimer()
				b.Logf("run %d: %d changes queued in %s; %d builds in %s; master CPU %s, run-queue wait %s; workers' CPU %s, their commands' %s, workers' run-queue wait %s",
					run, nChanges, queued, builds, took, used, waited, wused.own, wused.children, wused.runqueue)
				stopProfile()
				// Every build succeeded, as the data API says.
				var page struct {
					Builds []struct {
						Results *int `json:"results"`
					} `json:"builds"`
					Meta struct {
						Total int `json:"total"`
					} `json:"meta"`
				}
				_, body := m.wwwGet("/api/v2/builds?results=0&field=results&limit=1")
				if err := json.Unmarshal(body, &page); err != nil || page.Meta.Total != warm+builds {
					b.Fatalf("data API: %d successful builds, want %d (%v): %.300s", page.Meta.Total, warm+builds, err, body)
				}
				m.signal(syscall.SIGTERM)
				m.wait()
				b.StartTimer()
			}
			b.ReportMetric(float64(builds*b.N)/wall.Seconds(), "builds/s")
			b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(builds*b.N), "master-cpu-ms/build")
			b.ReportMetric(float64(entries)/float64(builds*b.N), "raft-entries/build")
			b.ReportMetric(allocs/float64(builds*b.N), "master-allocs/build")
			b.ReportMetric(allocBytes/1024/float64(builds*b.N), "master-alloc-KiB/build")
			b.ReportMetric(gcs/float64(builds*b.N), "master-gcs/build")
			b.ReportMetric(float64(faults)/float64(builds*b.N), "master-minflt/build")
			perBuild := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 / float64(builds*b.N) }
			b.ReportMetric(perBuild(mwait), "master-runqueue-ms/build")
			b.ReportMetric(perBuild(wsum.own), "worker-cpu-ms/build")
			b.ReportMetric(perBuild(wsum.children), "command-cpu-ms/build")
			b.ReportMetric(perBuild(wsum.runqueue), "worker-runqueue-ms/build")
		})
	}
}

// BenchmarkChangeLatency: one builder on one worker, a single_branch
// scheduler; 50 changes one at a time, each after the previous build
// finished. Latency: from the sendchange answer (the change is durable)
// to the master's "build started" line reaching this process (the build
// and its properties are durable then). Also reported: the sendchange
// round trip, and the master's own log times from "change added" to
// "build started" (millisecond resolution).
func BenchmarkChangeLatency(b *testing.B) {
	changes := testkit.ShortOr(benchChangesPerLatencyTest, 3)
	b.StopTimer() // the build of the binaries is not measured
	masterBin, workerBin := plainBinaries(b)
	var lat, rtt, logLat []time.Duration
	for run := range b.N {
		b.StopTimer()
		m := newMaster(b, throughputBody(1, true))
		m.start(masterBin, "--log-format", "json")
		waitConnected(b, []*worker{startWorkerProcess(b, workerBin, m, "warn", "w0", "pw0")}, 60*time.Second)
		ctl := control.NewClient(m.remote)
		defer ctl.Close()
		stopProfile := profileMaster(b, m, fmt.Sprintf("latency-%d", run), 5)
		b.StartTimer()
		for i := range changes {
			from := m.stderr.count()
			// Drain a stale notification.
			select {
			case <-m.stderr.notify:
			default:
			}
			t := time.Now()
			sendChange(b, ctl, m, fmt.Sprintf("r%d-%d", run, i))
			t0 := time.Now()
			rtt = append(rtt, t0.Sub(t))
			for countLines(m.stderr, from, `"msg":"build started"`) == 0 {
				select {
				case <-m.stderr.notify:
				case <-time.After(30 * time.Second):
					b.Fatal("no build started")
				}
			}
			lat = append(lat, time.Since(t0))
			var added, started time.Time
			for _, l := range m.stderr.snapshot()[from:] {
				var rec struct {
					Time time.Time `json:"time"`
					Msg  string    `json:"msg"`
				}
				if json.Unmarshal([]byte(l), &rec) != nil {
					continue
				}
				switch rec.Msg {
				case "change added":
					added = rec.Time
				case "build started":
					started = rec.Time
				}
			}
			logLat = append(logLat, started.Sub(added))
			for countLines(m.stderr, from, `"msg":"build finished"`) == 0 {
				select {
				case <-m.stderr.notify:
				case <-time.After(30 * time.Second):
					b.Fatal("the build did not finish")
				}
			}
		}
		b.StopTimer()
		stopProfile()
		m.signal(syscall.SIGTERM)
		m.wait()
		b.StartTimer()
	}
	q := func(d []time.Duration, p float64) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[int(p*float64(len(s)-1))].Microseconds()) / 1e3
	}
	b.ReportMetric(q(lat, 0.5), "p50-ms")
	b.ReportMetric(q(lat, 0.95), "p95-ms")
	b.ReportMetric(q(rtt, 0.5), "sendchange-p50-ms")
	b.ReportMetric(q(rtt, 1), "sendchange-max-ms")
	b.ReportMetric(q(logLat, 0.5), "log-p50-ms")
	b.ReportMetric(q(logLat, 0.95), "log-p95-ms")
}

// BenchmarkIdleWorkersRSS: a master with 1,000 builders, each on its own
// worker (benchBody), and K workers connected and idle: the master's
// VmRSS before any worker and with all K connected (each after 2 s idle),
// and the difference per worker. The workers are either buildworker
// processes (procs=K; each is a ~20 MB Go process, so K defaults to 200),
// or the same worker code (internal/worker.Run) run inside this test
// process (inproc=1000), each with its own actor system and remote
// endpoint: the master sees exactly what real workers give it, one
// connection each way per worker.
func BenchmarkIdleWorkersRSS(b *testing.B) {
	builders := testkit.ShortOr(1000, 10)
	procs := min(benchSize("BM_BENCH_IDLE_WORKERS", benchIdleWorkersDefault, 4), builders)
	for _, c := range []struct {
		k      int
		inproc bool
	}{{procs, false}, {min(envInt("BM_BENCH_INPROC_WORKERS", builders), builders), true}} {
		name := fmt.Sprintf("procs=%d", c.k)
		if c.inproc {
			name = fmt.Sprintf("inproc=%d", c.k)
		}
		b.Run(name, func(b *testing.B) { benchIdleWorkers(b, builders, c.k, c.inproc) })
	}
}

func benchIdleWorkers(b *testing.B, builders, k int, inproc bool) {
	b.StopTimer() // the build of the binaries is not measured
	masterBin, workerBin := plainBinaries(b)
	var rss0, rss, hwm, workersRSS float64
	var connect time.Duration
	for range b.N {
		b.StopTimer()
		m := newMaster(b, benchBody(0, builders))
		m.start(masterBin)
		waitBuilders(b, m, builders)
		time.Sleep(2 * time.Second)
		r0, _ := procMemMB(b, m.cmd.Process.Pid)
		b.StartTimer()
		t0 := time.Now()
		var wsum float64
		if inproc {
			defer runInprocWorkers(b, m, k, 5*time.Minute)()
			connect += time.Since(t0)
			b.StopTimer()
		} else {
			var ws []*worker
			for i := range k {
				ws = append(ws, startWorkerProcess(b, workerBin, m, "warn", fmt.Sprintf("w%04d", i), fmt.Sprintf("pw%04d", i)))
			}
			waitConnected(b, ws, 5*time.Minute)
			connect += time.Since(t0)
			b.StopTimer()
			for _, w := range ws {
				wr, _ := procMemMB(b, w.cmd.Process.Pid)
				wsum += wr
			}
		}
		time.Sleep(2 * time.Second)
		r, h := procMemMB(b, m.cmd.Process.Pid)
		rss0, rss, hwm, workersRSS = rss0+r0, rss+r, hwm+h, workersRSS+wsum
		if dir := os.Getenv("BM_BENCH_PPROF"); dir != "" {
			saveURL(b, "http://"+m.debug+"/debug/pprof/heap", filepath.Join(dir, fmt.Sprintf("heap-%s.pprof", strings.ReplaceAll(b.Name(), "/", "-"))))
		}
		m.signal(syscall.SIGTERM)
		m.wait()
		b.StartTimer()
	}
	nf := float64(b.N)
	b.ReportMetric(rss0/nf, "rss-idle-MB")
	b.ReportMetric(rss/nf, "rss-MB")
	b.ReportMetric(hwm/nf, "hwm-MB")
	b.ReportMetric((rss-rss0)/nf/float64(k)*1024, "rss-per-worker-KB")
	if !inproc {
		b.ReportMetric(workersRSS/nf/float64(k), "worker-process-rss-MB")
	}
	b.ReportMetric(float64(connect.Milliseconds())/nf, "connect-all-ms")
}

// saveURL writes what GET url answers to file.
func saveURL(b *testing.B, url, file string) {
	resp, err := http.Get(url)
	if err != nil {
		b.Log(err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		b.Log(err)
		return
	}
	defer f.Close()
	io.Copy(f, resp.Body)
}

// masterAllocs is how many heap objects, and bytes, the master has
// allocated since it started, and how many collections it has run, as its
// /metrics says.
func masterAllocs(b *testing.B, m *master) (a struct{ objects, bytes, gcs float64 }) {
	b.Helper()
	// One scrape, not one per value: a scrape allocates some 100 KiB in
	// the master, which the next one counts.
	body, err := scrape(m.debug)
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name string
		to   *float64
	}{{"go_gc_duration_seconds_count", &a.gcs}, {"go_memstats_mallocs_total", &a.objects}, {"go_memstats_alloc_bytes_total", &a.bytes}} {
		x, ok := metricSamples(body, v.name)[""]
		if !ok {
			b.Fatalf("/metrics has no %s", v.name)
		}
		*v.to = x
	}
	return a
}

// raftIndex is the master's raft last log index (/debug/db): how many
// commands it has written.
func raftIndex(m *master) uint64 {
	var db struct {
		LastIndex uint64 `json:"raft_last_index"`
	}
	m.getJSON("/debug/db", &db)
	return db.LastIndex
}
