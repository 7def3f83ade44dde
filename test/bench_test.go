package test

// BenchmarkProcess measures the real buildmaster process with 10,000
// builders: start-up, memory, `buildmaster reconfig` and checkconfig.
// It builds its own binary without -race. The figures, per run:
//
//	checkconfig-ms            `buildmaster checkconfig FILE`, wall time
//	startup-ms                exec until the "buildmaster is running" line
//	spawned-ms                exec until /metrics counts every builder actor
//	tree-ms                   exec until a /debug/tree response listing every
//	                          builder as running has arrived
//	rss-start-MB              VmRSS then (after that /debug/tree response)
//	reconfig-nochange-ms      bare `buildmaster reconfig`, no change, wall time
//	reconfig-nochange-took-ms the same, as the master reports it
//	rss-MB                    VmRSS after it
//	reconfig-add10-ms         `buildmaster reconfig` after 10% more builders
//	                          (each with a new worker) were written, wall time
//	reconfig-add10-took-ms    the same, as the master reports it
//	rss-add10-MB, hwm-MB      VmRSS and VmHWM once the new builders run
//
//	go test -run XXX -bench Process -benchtime 1x ./test/

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// benchBody returns the config body (without listen) of the workers and
// builders first..last-1: builder bNNNN on its own worker wNNNN, one shell
// step each.
func benchBody(first, last int) string {
	var sb strings.Builder
	sb.Grow((last - first) * 160)
	sb.WriteString("workers:\n")
	for i := first; i < last; i++ {
		fmt.Fprintf(&sb, "  - {name: w%04d, password: pw%04d}\n", i, i)
	}
	sb.WriteString("builders:\n")
	for i := first; i < last; i++ {
		fmt.Fprintf(&sb, "  - name: b%04d\n    workers: [w%04d]\n    steps:\n      - shell: {command: [echo, build, b%04d]}\n", i, i, i)
	}
	return sb.String()
}

// runBin runs bin with args and returns its combined output, exit code and
// wall time.
func runBin(b *testing.B, bin string, args ...string) (string, int, time.Duration) {
	b.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "BUILDMASTER_TOKEN=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode(), took
	case err != nil:
		b.Fatal(err)
	}
	return out.String(), 0, took
}

// procMemMB returns VmRSS and VmHWM of process pid, in MB.
func procMemMB(b *testing.B, pid int) (rss, hwm float64) {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	if rss == 0 || hwm == 0 {
		b.Fatalf("no VmRSS/VmHWM in /proc/%d/status", pid)
	}
	return rss, hwm
}

var tookRe = regexp.MustCompile(`reconfigured: generation \d+, (\d+) changes, took (\S+)`)

// unchangedRe matches the reply to a config the master already runs.
var unchangedRe = regexp.MustCompile(`unchanged: generation \d+ already runs this very config; nothing to do \(took (\S+)\)`)

// benchReconfig runs a bare `buildmaster reconfig` (the master re-reads its
// file), checks it made want changes, and returns the client's wall time and
// the master's own figure.
func benchReconfig(b *testing.B, bin string, m *master, want int) (wall, took time.Duration) {
	b.Helper()
	out, code, wall := runBin(b, bin, "reconfig", "--master", m.remote, "--data", filepath.Join(m.dir, "data"))
	if um := unchangedRe.FindStringSubmatch(out); code == 0 && um != nil && want == 0 {
		took, err := time.ParseDuration(um[1])
		if err != nil {
			b.Fatal(err)
		}
		return wall, took
	}
	sm := tookRe.FindStringSubmatch(out)
	if code != 0 || sm == nil {
		b.Fatalf("reconfig: exit %d\n%.2000s", code, out)
	}
	if n, _ := strconv.Atoi(sm[1]); n != want {
		b.Fatalf("reconfig made %d changes, want %d", n, want)
	}
	took, err := time.ParseDuration(sm[2])
	if err != nil {
		b.Fatal(err)
	}
	return wall, took
}

// builderCount returns how many builders /debug/tree lists, all running.
func builderCount(m *master) int {
	bm := m.tree().find("master/botmaster")
	if bm == nil {
		return 0
	}
	n := 0
	for _, c := range bm.Children {
		if c.Kind == "builder" && c.Status == "running" {
			n++
		}
	}
	return n
}

// metricBuilders returns the number of live builder actors /metrics reports
// (starting ones included), or -1.
func metricBuilders(b *testing.B, m *master) int {
	b.Helper()
	body, err := scrape(m.debug)
	if err != nil {
		b.Fatal(err)
	}
	n, ok := metricSamples(body, "buildmaster_actors")[`kind="builder"`]
	if !ok {
		return -1
	}
	return int(n)
}

// waitBuilders polls until /debug/tree lists want running builders, and
// returns when /metrics first counted them all (spawned) and when the
// /debug/tree response listing them all had arrived (listed). It polls the
// cheap /metrics count first: a /debug/tree of 20,000 actors is several MB
// of JSON, and fetching it in a loop would slow the master it measures.
func waitBuilders(b *testing.B, m *master, want int) (spawned, listed time.Time) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if metricBuilders(b, m) == want {
			if spawned.IsZero() {
				spawned = time.Now()
			}
			if builderCount(m) == want {
				return spawned, time.Now()
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("/debug/tree lists %d running builders, want %d", builderCount(m), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func BenchmarkProcess(b *testing.B) {
	n := testkit.ShortOr(10000, 100)
	b.Run(fmt.Sprintf("builders=%d", n), func(b *testing.B) {
		bin, _ := plainBinaries(b)
		base, grown := benchBody(0, n), benchBody(0, n+n/10)
		var startup, spawned, tree, checkTime, nochangeWall, nochangeTook, equivWall, equivTook, addWall, addTook time.Duration
		var rssStart, rssNochange, rssAdd, hwm float64
		b.ResetTimer()
		for range b.N {
			m := newMaster(b, base)
			out, code, took := runBin(b, bin, "checkconfig", m.cfgPath)
			if code != 0 {
				b.Fatalf("checkconfig: exit %d\n%.2000s", code, out)
			}
			checkTime += took

			start := m.start(bin)
			startup += time.Since(start)
			sp, li := waitBuilders(b, m, n)
			spawned, tree = spawned+sp.Sub(start), tree+li.Sub(start)
			r, _ := procMemMB(b, m.cmd.Process.Pid)
			rssStart += r

			w, t := benchReconfig(b, bin, m, 0)
			nochangeWall, nochangeTook = nochangeWall+w, nochangeTook+t
			// The same config written anew: parsed, validated, found to be the
			// config in force (unchanged).
			m.writeConfig(base + "# rewritten\n")
			w, t = benchReconfig(b, bin, m, 0)
			equivWall, equivTook = equivWall+w, equivTook+t
			r, _ = procMemMB(b, m.cmd.Process.Pid)
			rssNochange += r

			m.writeConfig(grown)
			w, t = benchReconfig(b, bin, m, 2*(n/10))
			addWall, addTook = addWall+w, addTook+t
			waitBuilders(b, m, n+n/10)
			r, h := procMemMB(b, m.cmd.Process.Pid)
			rssAdd, hwm = rssAdd+r, hwm+h

			b.StopTimer()
			m.signal(syscall.SIGTERM)
			if code := m.wait(); code != 0 {
				b.Fatalf("master exited %d:\n%s", code, strings.Join(m.stderr.snapshot(), "\n"))
			}
			b.StartTimer()
		}
		b.StopTimer()
		per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 / float64(b.N) }
		mb := func(v float64) float64 { return v / float64(b.N) }
		b.ReportMetric(per(startup), "startup-ms")
		b.ReportMetric(per(spawned), "spawned-ms")
		b.ReportMetric(per(tree), "tree-ms")
		b.ReportMetric(per(checkTime), "checkconfig-ms")
		b.ReportMetric(per(nochangeWall), "reconfig-nochange-ms")
		b.ReportMetric(per(nochangeTook), "reconfig-nochange-took-ms")
		b.ReportMetric(per(equivWall), "reconfig-equivalent-ms")
		b.ReportMetric(per(equivTook), "reconfig-equivalent-took-ms")
		b.ReportMetric(per(addWall), "reconfig-add10-ms")
		b.ReportMetric(per(addTook), "reconfig-add10-took-ms")
		b.ReportMetric(mb(rssStart), "rss-start-MB")
		b.ReportMetric(mb(rssNochange), "rss-MB")
		b.ReportMetric(mb(rssAdd), "rss-add10-MB")
		b.ReportMetric(mb(hwm), "hwm-MB")
	})
}
