package reporters_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// BenchmarkBuildBurst: 1,000 builds finish in a burst (16 writers, each
// build written through db as the botmaster writes one: a buildset, its
// start, three steps with two log appends each, its end; durable state) on a
// master with no reporter, and with two (github_status and http_push to
// local targets, every start and end: 4,000 reports); with reporters, the
// op ends when every outbox is drained. cpu-µs/build is the process's CPU
// time (user+system) per build, reports included; builds/s is the rate of
// the burst alone (until the last build ended).
func BenchmarkBuildBurst(b *testing.B) {
	for _, n := range []int{0, 2} {
		b.Run(fmt.Sprintf("reporters=%d", n), func(b *testing.B) {
			cfg := ""
			if n == 2 {
				url := startTarget(b)
				cfg = fmt.Sprintf("reporters:\n  - {name: gh, type: github_status, base_url: %q}\n  - {name: hook, type: http_push, url: %q, mode: [all]}\n",
					url, url+"/hook")
			}
			m := mastertest.Start(b, builders+cfg, b.TempDir(), nil)
			bl := waitBuilder(b, m, "app")
			burst := 1000
			if testing.Short() { // CI runs every benchmark once, small
				burst = 50
			}
			var cpu, wall time.Duration
			b.ResetTimer()
			for range b.N {
				c0, w0 := testkit.CPUTime(), time.Now()
				runBurst(b, m, bl, burst)
				wall += time.Since(w0)
				for _, name := range []string{"gh", "hook"}[:n] {
					for row := state.ReporterRow(m.RT.DB.Read(), name); row.Pending > 0; row = state.ReporterRow(m.RT.DB.Read(), name) {
						time.Sleep(time.Millisecond)
					}
				}
				cpu += testkit.CPUTime() - c0
			}
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*burst), "cpu-µs/build")
			b.ReportMetric(float64(b.N*burst)/wall.Seconds(), "builds/s")
		})
	}
}

func waitBuilder(b *testing.B, m *master.Master, name string) uint64 {
	for {
		if row, ok := state.First(m.RT.DB.Read(), state.TableBuilders, state.IndexName, name).(*messages.Builder); ok {
			return row.Id
		}
		time.Sleep(time.Millisecond)
	}
}

func runBurst(b *testing.B, m *master.Master, builderid uint64, n int) {
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if err := oneBuild(m, builderid, i); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

func oneBuild(m *master.Master, builderid uint64, i int) error {
	ctx, now := context.Background(), time.Now().Unix()
	call := func(k *messages.Command) (*messages.CommandResult, error) { return db.Call(ctx, m.RT.System, k) }
	bs, err := call(&messages.Command{Kind: &messages.Command_AddBuildset{AddBuildset: &messages.AddBuildset{
		Reason: "bench", SubmittedAt: now, BuilderNames: []string{"app"},
		Sourcestamps: []*messages.SourceStamp{{Repository: "https://github.com/o/r", Branch: "main", Revision: "r" + strconv.Itoa(i)}}}}})
	if err != nil {
		return err
	}
	brid := bs.GetIds()[0]
	bd, err := call(&messages.Command{Kind: &messages.Command_AddBuild{AddBuild: &messages.AddBuild{
		Builderid: builderid, Buildrequestid: brid, Masterid: m.RT.MasterID, StartedAt: now, WorkerName: "w1",
		ClaimBrids: []uint64{brid}, Properties: []*messages.Property{{Name: "buildername", ValueJson: `"app"`, Source: "Builder"}}}}})
	if err != nil {
		return err
	}
	for _, name := range []string{"checkout", "compile", "test"} {
		st, err := call(&messages.Command{Kind: &messages.Command_AddStep{AddStep: &messages.AddStep{
			Buildid: bd.GetId(), Name: name, StartedAt: now, LogNames: []string{"stdio"}}}})
		if err != nil {
			return err
		}
		logid := st.GetIds()[0]
		for range 2 {
			if _, err := call(&messages.Command{Kind: &messages.Command_AppendLog{AppendLog: &messages.AppendLog{
				Logid: logid, Content: "ostep output line one\nostep output line two\n"}}}); err != nil {
				return err
			}
		}
		if _, err := call(&messages.Command{Kind: &messages.Command_FinishStep{FinishStep: &messages.FinishStep{
			Stepid: st.GetId(), Results: state.ResultSuccess, CompleteAt: now}}}); err != nil {
			return err
		}
	}
	_, err = call(&messages.Command{Kind: &messages.Command_FinishBuild{FinishBuild: &messages.FinishBuild{
		Buildid: bd.GetId(), Results: state.ResultSuccess, CompleteAt: now, Brids: []uint64{brid}}}})
	return err
}

// targetEnv, set, makes the test binary a target for the benchmark's
// reports (serveTarget), so that its CPU is not counted as the master's.
const targetEnv = "REPORTERS_BENCH_TARGET"

func TestMain(m *testing.M) {
	if os.Getenv(targetEnv) != "" {
		serveTarget()
		return
	}
	os.Exit(m.Run())
}

// serveTarget answers every request 201 on 127.0.0.1, prints its address,
// and exits when its stdin closes.
func serveTarget() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(l.Addr())
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "{}")
	}))
	io.Copy(io.Discard, os.Stdin)
}

// startTarget runs serveTarget in a process of its own and returns its URL.
func startTarget(b *testing.B) string {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), targetEnv+"=1")
	stdin, out := testkit.StartPiped(b, cmd)
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return "http://" + strings.TrimSpace(addr)
}
