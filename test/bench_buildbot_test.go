package test

// BenchmarkBuildbotMaster is the other side of the comparison the README
// makes: Debian's Buildbot 3.7 master with the workload of
// BenchmarkBuildThroughput/buildbot-worker/pb/workers=4/builders=4 — four
// stock buildbot-workers over PB, four builders of one `true` step, a
// SingleBranchScheduler without treeStableTimer, N changes (default
// BM_BENCH_BUILDS/4) sent over PB by one client one after another. Reported
// as there: builds/s from the first change to the last finished build (as
// Buildbot's database says), the master's CPU per build, the workers' CPU,
// their commands' and the run-queue waits of the master and the workers per
// build.
//
//	go test -run XXX -bench 'BuildbotMaster|BuildThroughput/buildbot-worker/pb' -benchtime 1x ./test/

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

const buildbotBenchConfig = `from buildbot.plugins import worker, schedulers, util, steps, changes
c = BuildmasterConfig = {}
N = %d
c['workers'] = [worker.Worker("w%%d" %% i, "pw%%d" %% i) for i in range(N)]
c['protocols'] = {'pb': {'port': "tcp:0:interface=127.0.0.1"}}
c['change_source'] = [changes.PBChangeSource(user="change", passwd="changepw")]
c['schedulers'] = [schedulers.SingleBranchScheduler(name="main", builderNames=["b%%d" %% i for i in range(N)],
    treeStableTimer=None, change_filter=util.ChangeFilter(branch="main"))]
f = util.BuildFactory([steps.ShellCommand(command=["true"])])
c['builders'] = [util.BuilderConfig(name="b%%d" %% i, workernames=["w%%d" %% i], factory=f, collapseRequests=False) for i in range(N)]
c['buildbotNetUsageData'] = None
c['db'] = {'db_url': "sqlite:///state.sqlite"}
`

// buildbotSendChanges sends argv[2] changes on branch main to the master at
// argv[1] over PB, one after another, as `buildbot sendchange` does once.
const buildbotSendChanges = `import sys
from twisted.internet import reactor, defer
from buildbot.clients.sendchange import Sender
@defer.inlineCallbacks
def main():
    s = Sender(sys.argv[1], auth=("change", "changepw"))
    for i in range(int(sys.argv[2])):
        yield s.send("main", "r%d" % i, "change %d" % i, ["f"], who="bench <bench@example.org>")
    reactor.stop()
reactor.callWhenRunning(main)
reactor.run()
`

// buildbotCountBuilds prints the number of finished builds in the database
// argv[1] whenever it changes, until it reaches argv[2].
const buildbotCountBuilds = `import sqlite3, sys, time
db, want, last = sqlite3.connect(sys.argv[1], timeout=30), int(sys.argv[2]), -1
while last < want:
    try:
        n = db.execute("select count(*) from builds where complete_at is not null").fetchone()[0]
    except sqlite3.OperationalError:
        n = last
    if n != last:
        print(n, flush=True)
        last = n
    time.sleep(0.1)
`

func BenchmarkBuildbotMaster(b *testing.B) {
	for _, tool := range []string{"buildbot", "buildbot-worker"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s is not installed (apt-get install buildbot buildbot-worker)", tool)
		}
	}
	const nw = 4
	nChanges := benchSize("BM_BENCH_BUILDS", benchBuildsDefault, 8) / nw
	builds := nChanges * nw
	warm := benchSize("BM_BENCH_WARMUP", 0, 4) / nw // changes
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + b.TempDir(), "LANG=C.UTF-8"}
	run := func(dir string, name string, args ...string) {
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	var wall, cpu, mwait time.Duration
	var wsum procsStat // the workers'
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		run(dir, "buildbot", "create-master", "-q", "master")
		mdir := filepath.Join(dir, "master")
		if err := os.WriteFile(filepath.Join(mdir, "master.cfg"), fmt.Appendf(nil, buildbotBenchConfig, nw), 0o644); err != nil {
			b.Fatal(err)
		}
		for file, text := range map[string]string{"send.py": buildbotSendChanges, "count.py": buildbotCountBuilds} {
			if err := os.WriteFile(filepath.Join(dir, file), []byte(text), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		master := exec.Command("buildbot", "start", "--nodaemon", mdir)
		master.Env = env
		mp := startProc(b, master, func() string {
			log, _ := os.ReadFile(filepath.Join(mdir, "twistd.log"))
			return "twistd.log:\n" + string(log)
		})
		// Twisted logs the port it bound for tcp:0.
		var addr string
		testkit.Eventually(b, "Buildbot's PB port in twistd.log", func() bool {
			log, _ := os.ReadFile(filepath.Join(mdir, "twistd.log"))
			if m := regexp.MustCompile(`PBServerFactory starting on (\d+)`).FindSubmatch(log); m != nil {
				addr = "127.0.0.1:" + string(m[1])
			}
			return addr != ""
		})
		var wpids []int
		for i := range nw {
			basedir := filepath.Join(dir, fmt.Sprintf("worker-w%d", i))
			run(dir, "buildbot-worker", "create-worker", "--umask=0o22", basedir, addr, fmt.Sprintf("w%d", i), fmt.Sprintf("pw%d", i))
			w := exec.Command("buildbot-worker", "start", "--nodaemon", basedir)
			w.Env = env
			wpids = append(wpids, startProc(b, w, func() string { return "" }).cmd.Process.Pid)
		}
		testkit.Eventually(b, "the workers attached", func() bool {
			log, _ := os.ReadFile(filepath.Join(mdir, "twistd.log"))
			return strings.Count(string(log), "attached to") >= nw
		})
		count := exec.Command("/usr/bin/python3", filepath.Join(dir, "count.py"), filepath.Join(mdir, "state.sqlite"), strconv.Itoa((warm+nChanges)*nw))
		count.Env = env
		out, err := count.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := count.Start(); err != nil {
			b.Fatal(err)
		}
		finished := bufio.NewScanner(out)
		waitCount := func(want int) {
			for finished.Scan() {
				if n, _ := strconv.Atoi(finished.Text()); n >= want {
					return
				}
			}
		}
		sendChanges := func(n int) {
			send := exec.Command("/usr/bin/python3", filepath.Join(dir, "send.py"), addr, strconv.Itoa(n))
			send.Env = env
			if out, err := send.CombinedOutput(); err != nil {
				b.Fatalf("sending changes: %v\n%s", err, out)
			}
		}
		if warm > 0 {
			sendChanges(warm)
			waitCount(warm * nw)
		}
		b.StartTimer()
		c0, q0, t0 := procCPU(b, mp.cmd.Process.Pid), procRunqueue(b, mp.cmd.Process.Pid), time.Now()
		w0 := procsStats(b, wpids)
		sendChanges(nChanges)
		queued := time.Since(t0)
		waitCount((warm + nChanges) * nw)
		took, used, waited := time.Since(t0), procCPU(b, mp.cmd.Process.Pid)-c0, procRunqueue(b, mp.cmd.Process.Pid)-q0
		wused := procsStats(b, wpids).sub(w0)
		b.StopTimer()
		if err := count.Wait(); err != nil {
			b.Fatalf("counting builds: %v", err)
		}
		wall, cpu, mwait = wall+took, cpu+used, mwait+waited
		wsum = wsum.add(wused)
		b.Logf("%d changes sent in %s; %d builds in %s; master CPU %s, run-queue wait %s; workers' CPU %s, their commands' %s, workers' run-queue wait %s",
			nChanges, queued, builds, took, used, waited, wused.own, wused.children, wused.runqueue)
		b.StartTimer()
	}
	b.ReportMetric(float64(builds*b.N)/wall.Seconds(), "builds/s")
	perBuild := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 / float64(builds*b.N) }
	b.ReportMetric(perBuild(cpu), "master-cpu-ms/build")
	b.ReportMetric(perBuild(mwait), "master-runqueue-ms/build")
	b.ReportMetric(perBuild(wsum.own), "worker-cpu-ms/build")
	b.ReportMetric(perBuild(wsum.children), "command-cpu-ms/build")
	b.ReportMetric(perBuild(wsum.runqueue), "worker-runqueue-ms/build")
}
