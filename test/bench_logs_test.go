package test

// The figures of issue 14 that need a real master (numbers in the README's
// memory section):
//
//	BenchmarkBigLog        one step printing BM_BENCH_BIGLOG_MB of output
//	BenchmarkHistory       a master holding BM_BENCH_HISTORY_BUILDS finished builds with logs
//	BenchmarkHorizonExpiry build starts while the janitor expires them all
//
// BenchmarkLogReadersRSS (bench_memory_test.go) has the 8 readers of a
// large log.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// writeLogBlock writes about size bytes of build output to file: lines of
// compiler and test chatter with counters and durations, a long line (a
// command line, a stack trace) now and then, and some of random base64
// (checksums, encoded blobs), so that it compresses as real output does,
// not as repeated bytes do.
func writeLogBlock(b *testing.B, file string, size int) {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var sb strings.Builder
	for i := 0; sb.Len() < size; i++ {
		switch n := r.IntN(100); {
		case n < 70:
			fmt.Fprintf(&sb, "[%05d] compiling src/pkg%d/file%d.go ... ok (%d.%03ds)\n", i, r.IntN(40), r.IntN(500), r.IntN(3), r.IntN(1000))
		case n < 90:
			fmt.Fprintf(&sb, "=== RUN   TestCase%d/sub_%d\n--- PASS: TestCase%d/sub_%d (%d.%02ds)\n", r.IntN(900), r.IntN(50), r.IntN(900), r.IntN(50), r.IntN(2), r.IntN(100))
		case n < 97:
			sb.WriteString("gcc -O2 -Wall")
			for range 20 + r.IntN(200) {
				fmt.Fprintf(&sb, " -Iinclude/dir%d -DFEATURE_%d=1", r.IntN(100), r.IntN(1000))
			}
			sb.WriteByte('\n')
		default:
			for range 76 * (1 + r.IntN(40)) {
				sb.WriteByte(b64[r.IntN(64)])
			}
			sb.WriteByte('\n')
		}
	}
	if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
}

// quantiles returns the p50, p99 and largest of ds.
func quantiles(ds []time.Duration) (p50, p99, most time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[min(len(s)-1, len(s)*99/100)], s[len(s)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// sampler samples a process's VmRSS every interval until stopped.
type sampler struct {
	stop chan struct{}
	done chan struct{}
	peak float64
}

func sampleRSS(b *testing.B, pid int, every time.Duration) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			if r, _ := procMemMB(b, pid); r > s.peak {
				s.peak = r
			}
			select {
			case <-s.stop:
				return
			case <-time.After(every):
			}
		}
	}()
	return s
}

// Peak stops the sampler and returns the largest RSS seen, in MB.
func (s *sampler) Peak() float64 {
	close(s.stop)
	<-s.done
	return s.peak
}

// prober GETs paths of the master's API in turn, one every interval, and
// keeps how long each took.
type prober struct {
	stop chan struct{}
	done chan struct{}
	took []time.Duration
	errs int
}

func probeAPI(m *master, every time.Duration, paths ...string) *prober {
	p := &prober{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for i := 0; ; i++ {
			start := time.Now()
			resp, err := httpClient.Get("http://" + m.www + paths[i%len(paths)])
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("HTTP %d", resp.StatusCode)
				}
			}
			if err != nil {
				p.errs++
			} else {
				p.took = append(p.took, time.Since(start))
			}
			select {
			case <-p.stop:
				return
			case <-time.After(every):
			}
		}
	}()
	return p
}

// Stop stops the prober and returns the times the requests took.
func (p *prober) Stop() []time.Duration {
	close(p.stop)
	<-p.done
	return p.took
}

// dirBytes is the size of the files under dir, and how many there are.
func dirBytes(b *testing.B, dir string) (bytes int64, files int) {
	b.Helper()
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			bytes, files = bytes+info.Size(), files+1
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return bytes, files
}

// waitFinished waits, up to within, for build n of builder to finish and
// returns it.
func waitFinished(b *testing.B, m *master, builder string, n int, within time.Duration) apiBuild {
	b.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(time.Second) {
		_, body := m.wwwGet(fmt.Sprintf("/api/v2/builders/%s/builds/%d", builder, n))
		var page struct{ Builds []apiBuild }
		if json.Unmarshal(body, &page) == nil && len(page.Builds) == 1 && page.Builds[0].Results != nil {
			return page.Builds[0]
		}
		if time.Now().After(deadline) {
			b.Fatalf("build %s/%d not finished within %v: %s", builder, n, within, body)
		}
	}
}

// printingMaster starts the plain master with builder "big", whose one
// step "print" runs script on worker w1, and a force scheduler for it; and
// the plain worker w1, without waiting for it to log in.
func printingMaster(b *testing.B, script string) *master {
	b.Helper()
	masterBin, workerBin := plainBinaries(b)
	m := newMaster(b, fmt.Sprintf(`
workers: [{name: w1, password: pw1}]
builders:
  - name: big
    workers: [w1]
    steps:
      - name: print
        shell: {script: '%s'}
schedulers: [{name: force, type: force, builders: [big]}]
`, script))
	m.start(masterBin)
	startWorkerProcess(b, workerBin, m, "warn", "w1", "pw1")
	return m
}

// BenchmarkBigLog: one step prints BM_BENCH_BIGLOG_MB (default 10240) of
// output (writeLogBlock's mix, cat again and again) through one master and
// a real buildworker, while a client GETs other API pages every 100 ms. It
// reports the master's RSS (the largest during the step, sampled every
// 100 ms, and after it), those requests' latency (p50, p99, max), the
// bytes the log takes on disk against what was printed, the master's CPU
// per GB, and the log's rate. BM_BENCH_PPROF: where the master's profiles
// of the step's first 20 seconds go.
func BenchmarkBigLog(b *testing.B) {
	mb := benchSize("BM_BENCH_BIGLOG_MB", 10240, 8)
	const blockMB = 4
	block := filepath.Join(b.TempDir(), "block.txt")
	writeLogBlock(b, block, blockMB<<20)
	for range b.N {
		m := printingMaster(b, fmt.Sprintf(`i=0; while [ $i -lt %d ]; do cat %s; i=$((i+1)); done`, max(1, mb/blockMB), block))
		pid := m.cmd.Process.Pid
		time.Sleep(time.Second)
		before, _ := procMemMB(b, pid)
		cpu0 := procCPU(b, pid)
		rss := sampleRSS(b, pid, 100*time.Millisecond)
		probe := probeAPI(m, 100*time.Millisecond, "/api/v2/builders", "/api/v2/builds?limit=50&order=-buildid", "/api/v2/workers")
		start := time.Now()
		m.forceHTTP(b, "big")
		profiled := profileMaster(b, m, "biglog", 20)
		build := waitFinished(b, m, "big", 1, 10*time.Hour)
		profiled()
		took := time.Since(start)
		lat := probe.Stop()
		peak := rss.Peak()
		cpu := procCPU(b, pid) - cpu0
		if *build.Results != 0 {
			b.Fatalf("the build ended %d", *build.Results)
		}
		time.Sleep(2 * time.Second)
		after, _ := procMemMB(b, pid)
		raw := int64(max(1, mb/blockMB)) * blockMB << 20
		disk, files := dirBytes(b, filepath.Join(m.dir, "data", "logs"))
		p50, p99, most := quantiles(lat)
		b.ReportMetric(before, "rss-before-MB")
		b.ReportMetric(peak, "rss-peak-MB")
		b.ReportMetric(after, "rss-after-MB")
		b.ReportMetric(ms(p50), "api-p50-ms")
		b.ReportMetric(ms(p99), "api-p99-ms")
		b.ReportMetric(ms(most), "api-max-ms")
		b.ReportMetric(float64(disk)/(1<<20), "disk-MB")
		b.ReportMetric(float64(disk)/float64(raw), "disk/raw")
		b.ReportMetric(cpu.Seconds()/(float64(raw)/(1<<30)), "master-cpu-s/GB")
		b.ReportMetric(float64(raw)/(1<<20)/took.Seconds(), "MB/s")
		b.Logf("%d MB printed in %v: %d log files, %d bytes on disk; %d API requests (%d failed); load %s",
			raw>>20, took.Round(time.Second), files, disk, len(lat), probe.errs, testkit.LoadAvg())
		m.signal(syscall.SIGKILL)
		m.wait()
	}
}

// historyBuilders is how many builders seedHistory spreads its builds over.
const historyBuilders = 100

// seedHistory makes dir a master's data directory that holds builds
// finished builds over historyBuilders builders (builder-00 …), each on a
// change and sourcestamp of its own, with a buildset, a request, and three
// steps, two with a stdio log of 40 lines in a log file; the builds
// started in 1970, so any horizon removes them. The state is written with
// state.Seed (the commands' ids are known: the tables start empty), the
// log files without fsync. With archive, the builds' steps and logs are
// then archived, db.ArchiveBatch builds to a segment, their buildsets
// (with requests and builds) but each builder's newest, db.ArchiveBatch
// buildsets to a segment, and the changes as the janitor archives them
// (all but db.ChangesKept, in whole segments).
func seedHistory(b *testing.B, dir string, builds int, archive bool) {
	b.Helper()
	start := time.Now()
	st, err := state.Open(filepath.Join(dir, "state"), state.Options{NoSnapshotOnClose: true, StartTimeout: 10 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	const linesPerLog = 40
	h := state.History{Builds: builds, Builders: historyBuilders, LinesPerLog: linesPerLog,
		BuildsetProperties: []*messages.Property{{Name: "scheduler", ValueJson: `"main"`, Source: "Scheduler"}}}
	if archive {
		h.ArchiveBatch, h.BuildsetBatch = db.ArchiveBatch, db.ArchiveBatch
		h.ChangeBatch, h.ChangesKept = db.ChangeArchiveBatch, db.ChangesKept
	}
	if _, err := st.Seed(h.Commands(), 4096); err != nil {
		b.Fatal(err)
	}
	if n := state.Count(st.Read(), state.TableLogs); n != 2*builds {
		b.Fatalf("seeded %d logs, want %d", n, 2*builds)
	}
	if n := state.Count(st.Read(), state.TableBuilds); n != builds {
		b.Fatalf("seeded %d builds, want %d", n, builds)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	logs, err := logchunk.Open(filepath.Join(dir, "logs"), logchunk.Options{FS: noSyncFS{}})
	if err != nil {
		b.Fatal(err)
	}
	var text []byte
	for i := range linesPerLog {
		text = fmt.Appendf(text, "o[%02d] running test case %d of the suite ... ok\n", i, i)
	}
	for id := range uint64(2 * builds) {
		w, err := logs.Create(id+1, logchunk.Stdio)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.AppendChunk(text); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	if err := logs.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d builds (%d logs) in %v", builds, 2*builds, time.Since(start).Round(time.Second))
}

// noSyncFS is the operating system's files without fsync, to seed
// hundreds of thousands of log files quickly.
type noSyncFS struct{ logchunk.OS }

func (noSyncFS) Create(name string) (logchunk.File, error) {
	f, err := logchunk.OS{}.Create(name)
	if err != nil {
		return nil, err
	}
	return noSyncFile{f.(*os.File)}, nil
}

func (noSyncFS) SyncDir(string) error { return nil }

type noSyncFile struct{ *os.File }

func (noSyncFile) Sync() error { return nil }

// historyConfig is the config of a seeded master: its builders, a worker
// w1 and a builder "probe" whose one step returns at once.
func historyConfig(extra string) string {
	var sb strings.Builder
	sb.WriteString("workers: [{name: w1, password: pw1}]\nbuilders:\n  - {name: probe, workers: [w1], steps: [{shell: {command: [\"true\"]}}]}\n")
	for i := range historyBuilders {
		fmt.Fprintf(&sb, "  - {name: builder-%02d, workers: [w1], steps: [{shell: {command: [\"true\"]}}]}\n", i)
	}
	sb.WriteString("schedulers: [{name: force, type: force, builders: [probe]}]\n")
	return sb.String() + extra
}

// seededMaster returns a master (not started) whose data directory holds
// builds finished builds, seeded once per size and copied for each master
// (BENCH_HISTORY_DIR keeps the seeded directory between runs). Their steps
// and logs are archived, as the janitor of a long-running master leaves
// them; BM_BENCH_HISTORY_PLAIN=1 leaves them in their tables.
func seededMaster(b *testing.B, builds int, extra string) *master {
	b.Helper()
	root := os.Getenv("BENCH_HISTORY_DIR")
	if root == "" {
		root = filepath.Join(os.TempDir(), "buildmaster-bench-history")
	}
	archive := os.Getenv("BM_BENCH_HISTORY_PLAIN") == ""
	seeded := filepath.Join(root, fmt.Sprintf("builds-%d-plain", builds))
	if archive {
		seeded = filepath.Join(root, fmt.Sprintf("builds-%d-archived", builds))
	}
	if _, err := os.Stat(filepath.Join(seeded, "done")); err != nil {
		os.RemoveAll(seeded)
		seedHistory(b, seeded, builds, archive)
		if err := os.WriteFile(filepath.Join(seeded, "done"), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	m := newMaster(b, historyConfig(extra))
	if err := os.CopyFS(filepath.Join(m.dir, "data"), os.DirFS(seeded)); err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkHistory: a master whose state holds BM_BENCH_HISTORY_BUILDS
// (default 100,000) finished builds, with their changes, buildsets,
// requests, three steps each and two logs each in log files. It reports
// the master's RSS once started (and after the pages), and how long the builds page takes:
// GET /api/v2/builds?limit=50&order=-buildid, 200 times (p50, p99, max),
// how long the changes page takes (/api/v2/changes?limit=50&order=-changeid),
// and one log's /raw and the oldest change. BM_BENCH_HISTORY_HEAP_PROFILE, when set, is where
// the master's heap profile is written once it started.
func BenchmarkHistory(b *testing.B) {
	builds := benchSize("BM_BENCH_HISTORY_BUILDS", 100_000, 100)
	masterBin, _ := plainBinaries(b)
	for range b.N {
		m := seededMaster(b, builds, "")
		start := time.Now()
		m.start(masterBin)
		b.ReportMetric(time.Since(start).Seconds(), "start-s")
		if n := m.total(b, "/api/v2/builds?limit=1"); n != builds {
			b.Fatalf("%d builds, want %d", n, builds)
		}
		time.Sleep(2 * time.Second)
		rss, _ := procMemMB(b, m.cmd.Process.Pid)
		heap := liveHeapMB(b, m)
		if path := os.Getenv("BM_BENCH_HISTORY_HEAP_PROFILE"); path != "" {
			saveURL(b, "http://"+m.debug+"/debug/pprof/heap?gc=1", path)
		}
		var took []time.Duration
		for range 200 {
			t0 := time.Now()
			_, body := m.wwwGet("/api/v2/builds?limit=50&order=-buildid")
			took = append(took, time.Since(t0))
			if !strings.Contains(string(body), fmt.Sprintf(`"buildid":%d,`, builds)) {
				b.Fatalf("the newest build is not on the page: %.200s", body)
			}
		}
		p50, p99, most := quantiles(took)
		var changesTook []time.Duration
		for range 200 {
			t0 := time.Now()
			_, body := m.wwwGet("/api/v2/changes?limit=50&order=-changeid")
			changesTook = append(changesTook, time.Since(t0))
			if !strings.Contains(string(body), fmt.Sprintf(`"changeid":%d,`, builds)) {
				b.Fatalf("the newest change is not on the changes page: %.200s", body)
			}
		}
		c50, c99, cmost := quantiles(changesTook)
		if _, body := m.wwwGet("/api/v2/changes/1"); !strings.Contains(string(body), `"changeid":1,`) {
			b.Fatalf("the oldest change: %.200s", body)
		}
		rssAfter, _ := procMemMB(b, m.cmd.Process.Pid)
		code, raw, _ := m.wwwGetAny(fmt.Sprintf("/api/v2/logs/%d/raw", 2*builds))
		if code != 200 || !strings.Contains(string(raw), "running test case 39") {
			b.Fatalf("the last log's /raw: %d %.200s", code, raw)
		}
		b.ReportMetric(rss, "rss-MB")
		b.ReportMetric(rssAfter, "rss-after-MB")
		b.ReportMetric(heap, "heap-MB")
		b.ReportMetric(ms(p50), "builds-p50-ms")
		b.ReportMetric(ms(p99), "builds-p99-ms")
		b.ReportMetric(ms(most), "builds-max-ms")
		b.ReportMetric(ms(c50), "changes-p50-ms")
		b.ReportMetric(ms(c99), "changes-p99-ms")
		b.ReportMetric(ms(cmost), "changes-max-ms")
		b.Logf("%d builds: RSS %.0f MB (%.0f MB after the pages), live heap %.0f MB, builds page p50 %v p99 %v; load %s", builds, rss, rssAfter, heap,
			p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), testkit.LoadAvg())
		m.signal(syscall.SIGKILL)
		m.wait()
	}
}

// startDelay is one build of probe: when it was forced and how long it
// took to start.
type startDelay struct {
	at   time.Time
	took time.Duration
}

// buildStarts forces builds of probe one after another, each after the
// one before finished, n of them or (n = 0) until stop is closed, and
// returns how long each took to start: from the force's answer to its
// builds/N/new event on /ws.
func buildStarts(b *testing.B, m *master, n int, stop <-chan struct{}) []startDelay {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+m.www+"/ws", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	for i, path := range []string{"builds/*/new", "builds/*/finished"} {
		if err := ws.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"cmd":"startConsuming","path":%q,"_id":%d}`, path, i+1)); err != nil {
			b.Fatal(err)
		}
	}
	next := func(suffix string) {
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				b.Fatalf("reading /ws: %v", err)
			}
			var f struct{ K string }
			if json.Unmarshal(data, &f) == nil && strings.HasSuffix(f.K, suffix) {
				return
			}
		}
	}
	var out []startDelay
	for {
		m.forceHTTP(b, "probe")
		t0 := time.Now()
		next("/new")
		out = append(out, startDelay{t0, time.Since(t0)})
		next("/finished")
		if n > 0 && len(out) == n {
			return out
		}
		select {
		case <-stop:
			return out
		default:
		}
	}
}

func delays(ss []startDelay, keep func(time.Time) bool) []time.Duration {
	var out []time.Duration
	for _, s := range ss {
		if keep(s.at) {
			out = append(out, s.took)
		}
	}
	return out
}

var tookField = regexp.MustCompile(`took=(\S+)`)

// BenchmarkHorizonExpiry: a master holding BM_BENCH_HISTORY_BUILDS
// (default 100,000) finished builds from 1970 starts builds of "probe" one
// after another: 20 before any horizon, then all along while a reconfig's
// horizons (builds: 1d, interval 1m, batches of 100) have the janitor
// expire every old build a minute later. It reports how long a build took
// to start (from the force's answer to its event) before and during the
// expiry (p50, p99, max), and how long the expiry took (the janitor's
// log).
func BenchmarkHorizonExpiry(b *testing.B) {
	// Small: 3 builds per builder, so that 2 of each go (the newest stays).
	builds := benchSize("BM_BENCH_HISTORY_BUILDS", 100_000, 3*historyBuilders)
	masterBin, workerBin := plainBinaries(b)
	for range b.N {
		m := seededMaster(b, builds, "")
		m.start(masterBin)
		startWorkerProcess(b, workerBin, m, "warn", "w1", "pw1")
		baseline := delays(buildStarts(b, m, 20, nil), func(time.Time) bool { return true })

		from := m.stderr.count()
		m.writeConfig(historyConfig("horizons: {builds: 1d, interval: 1m}\n"))
		if out, errOut, code := m.cli("reconfig"); code != 0 {
			b.Fatalf("reconfig: %d %s%s", code, out, errOut)
		}
		stop := make(chan struct{})
		var probes []startDelay
		var wg sync.WaitGroup
		wg.Go(func() { probes = buildStarts(b, m, 0, stop) })
		if testing.Short() {
			// CI's small run: the same expiry at once rather than after
			// the interval (at least 1m), with the builds starting meanwhile.
			if out, errOut, code := m.cli("cleanupdb"); code != 0 {
				b.Fatalf("cleanupdb: %d %s%s", code, out, errOut)
			}
		}
		var done string
		for deadline := time.Now().Add(time.Hour); done == ""; time.Sleep(100 * time.Millisecond) {
			for _, l := range m.stderr.snapshot()[from:] {
				if strings.Contains(l, "janitor: history past the horizons removed") {
					done = l
				}
			}
			if time.Now().After(deadline) {
				b.Fatal("the janitor did not end within an hour")
			}
		}
		end := time.Now()
		close(stop)
		wg.Wait()
		sm := tookField.FindStringSubmatch(done)
		if sm == nil {
			b.Fatalf("the janitor's line: %s", done)
		}
		took, err := time.ParseDuration(strings.Trim(sm[1], `"`))
		if err != nil {
			b.Fatalf("the janitor's line: %s: %v", done, err)
		}
		// Left: the probes, and the newest build of each builder (its
		// number is the next build's).
		if n := m.total(b, "/api/v2/builds?limit=1"); n != len(baseline)+len(probes)+historyBuilders {
			b.Fatalf("%d builds left, want the %d probes and %d", n, len(baseline)+len(probes), historyBuilders)
		}
		during := delays(probes, func(at time.Time) bool { return at.After(end.Add(-took)) })
		b50, _, bmax := quantiles(baseline)
		d50, d99, dmax := quantiles(during)
		b.ReportMetric(ms(b50), "start-before-p50-ms")
		b.ReportMetric(ms(bmax), "start-before-max-ms")
		b.ReportMetric(ms(d50), "start-during-p50-ms")
		b.ReportMetric(ms(d99), "start-during-p99-ms")
		b.ReportMetric(ms(dmax), "start-during-max-ms")
		b.ReportMetric(took.Seconds(), "expiry-s")
		b.Logf("expiry of %d builds took %v; %d builds started meanwhile; load %s", builds, took.Round(time.Millisecond), len(during), testkit.LoadAvg())
		m.signal(syscall.SIGKILL)
		m.wait()
	}
}
