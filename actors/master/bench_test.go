package master_test

// Benchmarks of the in-process master at scale: reconfiguration (parse,
// validate, diff and cascade, as a remote `buildmaster reconfig` does) and
// start-up, with 100, 1,000 and 10,000 builders, each on its own worker.
//
//	go test -run XXX -bench . -benchtime 5x -benchmem ./actors/master/

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

const benchToken = "bench-admin-token"

// benchSizes are the builder counts of the targets; with -short,
// one small size, so that CI runs every benchmark once.
func benchSizes() []int {
	if testing.Short() {
		return []int{10}
	}
	return []int{100, 1000, 10000}
}

// genOpts select a variant of the generated config.
type genOpts struct {
	Remote, WWW, Debug string // listen addresses
	Skip               int    // leave out the first Skip builders and their workers
	Add                int    // append Add more builders, each with its own worker
	Command            string // the word the shell step echoes; "" means "build"
	Title              string // "" means "bench N"; the title belongs to no service
}

// genConfig returns a config of n workers w0000… and n builders b0000…,
// builder i on worker i with one shell step, varied by o.
func genConfig(n int, o genOpts) []byte {
	cmd := o.Command
	if cmd == "" {
		cmd = "build"
	}
	total := n + o.Add
	var sb strings.Builder
	sb.Grow(total * 160)
	title := o.Title
	if title == "" {
		title = fmt.Sprintf("bench %d", n)
	}
	fmt.Fprintf(&sb, "title: %s\nlisten:\n  remote: %s\n  www: %s\n  debug: %s\n  workers: 127.0.0.1:0\n  workers_pb: 127.0.0.1:0\n", title, o.Remote, o.WWW, o.Debug)
	sb.WriteString("workers:\n")
	for i := o.Skip; i < total; i++ {
		fmt.Fprintf(&sb, "  - {name: w%04d, password: pw%04d}\n", i, i)
	}
	sb.WriteString("builders:\n")
	for i := o.Skip; i < total; i++ {
		fmt.Fprintf(&sb, "  - name: b%04d\n    workers: [w%04d]\n    steps:\n      - shell: {command: [echo, %s, b%04d]}\n", i, i, cmd, i)
	}
	return []byte(sb.String())
}

// baseOpts listens on port 0 everywhere: the master binds once and reports
// the ports it got.
func baseOpts() genOpts {
	return genOpts{Remote: "127.0.0.1:0", WWW: "127.0.0.1:0", Debug: "127.0.0.1:0"}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// actorPaths lists the tree paths of every actor a master running the
// config genConfig(n, o) has: the actors of its services, which do not
// depend on the config (services, as read from a running tree by
// servicePaths), and one worker and one builder per configured builder.
func actorPaths(services []string, n int, o genOpts) []string {
	out := slices.Clone(services)
	for i := o.Skip; i < n+o.Add; i++ {
		out = append(out, paths.Worker(fmt.Sprintf("w%04d", i)), paths.Builder(fmt.Sprintf("b%04d", i)))
	}
	return out
}

// servicePaths returns the paths of the actors of m's tree other than its
// configured workers and builders (and their children). Read from the tree
// once master.Start has returned (every actor of the configured tree then
// runs), it is the part of the tree that no generated config changes, so
// that the expected tree follows the master's as services gain children.
func servicePaths(m *master.Master) []string {
	var out []string
	var walk func(n *messages.TreeNode)
	walk = func(n *messages.TreeNode) {
		if strings.HasPrefix(n.GetPath(), paths.Worker("")) || strings.HasPrefix(n.GetPath(), paths.Builder("")) {
			return
		}
		out = append(out, n.GetPath())
		for _, c := range n.GetChildren() {
			walk(c)
		}
	}
	walk(m.RT.Tree.Snapshot(paths.Master))
	return out
}

// startMaster starts an in-process master (no control endpoint) on the config
// genConfig(n, o), waits until its whole tree runs, and returns it with its
// servicePaths.
func startMaster(tb testing.TB, n int, o genOpts) (*master.Master, []string) {
	tb.Helper()
	cfg, err := config.Load("bench.yaml", genConfig(n, o))
	if err != nil {
		tb.Fatal(err)
	}
	m, err := master.Start(master.Options{Config: cfg, Token: benchToken, DataDir: tb.TempDir(), Log: quiet(), NoRemote: true, Ephemeral: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Stop(30 * time.Second) })
	services := servicePaths(m)
	waitSettled(tb, m, actorPaths(services, n, o), 60*time.Second)
	return m, services
}

// waitSettled polls, with a deadline, until the tree holds exactly the
// actors at paths, every one running with an empty mailbox: the actors a
// reconfig spawned have started, those it stopped are gone, and those it
// told of a new config have taken it. Each poll costs O(1) until the count
// is right and then resumes where the last one stopped, so that polling
// inside a timed region takes little from the master.
func waitSettled(tb testing.TB, m *master.Master, paths []string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	ready := func(path string) bool {
		n := m.RT.Tree.Lookup(path)
		return n != nil && n.Status() == "running" && n.Mailbox() == 0
	}
	next := 0
	for {
		count := m.RT.Tree.Len()
		if count == len(paths) {
			for next < len(paths) && ready(paths[next]) {
				next++
			}
			if next == len(paths) {
				if !slices.ContainsFunc(paths, func(p string) bool { return !ready(p) }) {
					return // a final full pass: nothing went busy again
				}
				next = 0
			}
		}
		if time.Now().After(deadline) {
			busy := ""
			if next < len(paths) {
				busy = paths[next]
			}
			tb.Fatalf("tree did not settle within %s: %d actors, want %d; first busy: %q", timeout, count, len(paths), busy)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// request makes the request for yaml in one of the two forms a master
// receives: "yaml" (SIGHUP, a bare `buildmaster reconfig`) or "typed" (what
// `buildmaster reconfig --config FILE` sends: parsed by the client).
func request(tb testing.TB, form string, yaml []byte) *messages.ReconfigureRequest {
	tb.Helper()
	if form == "yaml" {
		return &messages.ReconfigureRequest{ConfigName: "bench.yaml", ConfigYaml: yaml}
	}
	cfg, _, err := config.Parse("bench.yaml", yaml)
	if err != nil {
		tb.Fatal(err)
	}
	return &messages.ReconfigureRequest{ConfigName: "bench.yaml", Config: cfg}
}

// send sends req and checks that the reply is Ok with want changes.
func send(tb testing.TB, m *master.Master, req *messages.ReconfigureRequest, want int) *messages.ReconfigureResponse {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req.Token = benchToken
	reply, err := m.Request(ctx, req)
	if err != nil {
		tb.Fatal(err)
	}
	res, ok := reply.(*messages.ReconfigureResponse)
	if !ok {
		tb.Fatalf("reply %T: %v", reply, reply)
	}
	if !res.GetOk() {
		var errs []string
		for i, e := range res.GetErrors() {
			if i == 5 {
				errs = append(errs, "…")
				break
			}
			errs = append(errs, fmt.Sprintf("%d:%s: %s", e.GetLine(), e.GetPath(), e.GetMessage()))
		}
		tb.Fatalf("reconfig rejected (%d errors):\n%s", len(res.GetErrors()), strings.Join(errs, "\n"))
	}
	if got := len(res.GetChanges()); got != want {
		tb.Fatalf("reconfig made %d changes, want %d", got, want)
	}
	return res
}

// transition is one measured reconfiguration from the base config.
type transition struct {
	name    string
	target  func(n int, base genOpts) genOpts // the target config's options
	changes func(n int) int                   // changes the transition makes
}

var transitions = []transition{
	{"nochange", // the very input the master runs: recognised by its fingerprint
		func(_ int, o genOpts) genOpts { return o },
		func(int) int { return 0 }},
	{"equivalent", // a new input with the same services: loaded, validated, diffed
		func(_ int, o genOpts) genOpts { o.Title = "equivalent"; return o },
		func(int) int { return 0 }},
	{"add10pct", // n/10 more builders, each with its own new worker
		func(n int, o genOpts) genOpts { o.Add = n / 10; return o },
		func(n int) int { return 2 * (n / 10) }},
	{"changeall", // every builder's step changes; the workers do not
		func(_ int, o genOpts) genOpts { o.Command = "rebuild"; return o },
		func(n int) int { return n }},
	{"removehalf", // the first half of the builders and their workers go
		func(n int, o genOpts) genOpts { o.Skip = n / 2; return o },
		func(n int) int { return 2 * (n / 2) }},
}

// BenchmarkReconfig measures one reconfiguration of a running master,
// request to reply, for each transition from the base config. Transitions
// that change the tree are undone, with the timer stopped, between
// iterations, and the tree is let settle before the next one. settle-ms is
// the time from the request until the tree showed the new shape (stopped
// actors gone, new ones running, every mailbox empty); it is polled, so it
// is an upper bound by about a millisecond.
func BenchmarkReconfig(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("builders=%d", n), func(b *testing.B) {
			for _, tr := range transitions {
				for _, form := range []string{"yaml", "typed"} {
					b.Run(tr.name+"/"+form, func(b *testing.B) {
						base := baseOpts()
						baseYAML := genConfig(n, base)
						to := tr.target(n, base)
						want := tr.changes(n)
						target := request(b, form, genConfig(n, to))
						// equivalent alternates between two inputs, so that
						// neither is the one the master runs.
						other := request(b, form, genConfig(n, base))
						if tr.name == "equivalent" {
							to.Title = "equivalent again"
							other = request(b, form, genConfig(n, to))
						}
						baseReq := request(b, form, baseYAML)
						m, services := startMaster(b, n, base)
						basePaths, afterPaths := actorPaths(services, n, base), actorPaths(services, n, to)
						send(b, m, baseReq, 0) // the master now runs the base input in this form
						b.ReportAllocs()
						var changes int
						var settle time.Duration
						b.ResetTimer()
						for i := range b.N {
							start := time.Now()
							req := target
							if tr.name == "equivalent" && i%2 == 1 {
								req = other
							}
							changes += len(send(b, m, req, want).GetChanges())
							if want == 0 {
								continue
							}
							b.StopTimer()
							waitSettled(b, m, afterPaths, 60*time.Second)
							settle += time.Since(start)
							send(b, m, baseReq, want) // back to the base config
							waitSettled(b, m, basePaths, 60*time.Second)
							b.StartTimer()
						}
						b.StopTimer()
						b.ReportMetric(float64(changes)/float64(b.N), "changes/op")
						if want > 0 {
							b.ReportMetric(float64(settle.Microseconds())/1e3/float64(b.N), "settle-ms")
						}
					})
				}
			}
		})
	}
}

// BenchmarkStartup measures master.Start until every actor of the tree
// runs. The config is loaded outside the timer; load-ms reports that part
// (what `buildmaster run` does before Start).
func BenchmarkStartup(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("builders=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var load time.Duration
			for range b.N {
				b.StopTimer()
				o := baseOpts()
				yaml := genConfig(n, o)
				t0 := time.Now()
				cfg, err := config.Load("bench.yaml", yaml)
				if err != nil {
					b.Fatal(err)
				}
				load += time.Since(t0)
				dir := b.TempDir()
				b.StartTimer()
				m, err := master.Start(master.Options{Config: cfg, Token: benchToken, DataDir: dir, Log: quiet(), NoRemote: true, Ephemeral: true})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				want := actorPaths(servicePaths(m), n, o)
				b.StartTimer()
				waitSettled(b, m, want, 60*time.Second)
				b.StopTimer()
				if err := m.Stop(30 * time.Second); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(load.Microseconds())/1e3/float64(b.N), "load-ms")
		})
	}
}

// BenchmarkReconfigStages times the stages of a no-change reconfiguration
// on their own, without actors, to show where BenchmarkReconfig's time goes:
// parse (config.Parse: YAML to MasterConfig), load (config.Load: parse,
// defaults and validation; load − parse is the validation) and plan
// (master.Plan: the diff of every service, which compares each builder and
// worker with proto.Equal as botmaster's reconfiguration does).
func BenchmarkReconfigStages(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("builders=%d", n), func(b *testing.B) {
			yaml := genConfig(n, baseOpts())
			b.Run("parse", func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					if _, _, err := config.Parse("bench.yaml", yaml); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("load", func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					if _, err := config.Load("bench.yaml", yaml); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("plan", func(b *testing.B) {
				old, err := config.Load("bench.yaml", yaml)
				if err != nil {
					b.Fatal(err)
				}
				cur, err := config.Load("bench.yaml", yaml)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if c := master.Plan(old, cur); len(c) != 0 {
						b.Fatalf("plan has %d changes, want 0", len(c))
					}
				}
			})
		})
	}
}
