package master

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

// TestExampleConfigStartsQuiet: the built-in config (`go run
// ./cmd/buildmaster`) starts on an empty data directory without a warning
// or an error, from its own log or protoactor's, and builds nothing by
// itself: not while it starts, not once every scheduler has computed its
// first run, every change source has polled once and a periodic task has
// run (the config shortens the intervals; its listeners move to free
// ports).
func TestExampleConfigStartsQuiet(t *testing.T) {
	name, data := config.Example()
	cfg, err := config.Load(name, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []*string{&cfg.Listen.Remote, &cfg.Listen.Www, &cfg.Listen.Debug, &cfg.Listen.Workers, &cfg.Listen.WorkersPb} {
		*l = "127.0.0.1:0"
	}
	tick := durationpb.New(10 * time.Millisecond)
	cfg.Metrics.LogInterval = tick
	for _, cs := range cfg.GetChangeSources() {
		if gp := cs.GetGitPoller(); gp != nil {
			gp.PollInterval = tick
		}
	}
	log, logs := testkit.NewLogs()
	m, err := Start(Options{Config: cfg, Input: config.FingerprintYAML(data), DataDir: t.TempDir(), Token: token, Log: log,
		LibLog: log.With("lib", "protoactor")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(10 * time.Second) })
	quiet := func(when string) {
		t.Helper()
		if noisy := logs.Lines(slog.LevelWarn); len(noisy) > 0 {
			t.Fatalf("%s, the example config logged:\n%s", when, strings.Join(noisy, "\n"))
		}
		txn := m.RT.DB.Read()
		if n, b := state.Count(txn, state.TableBuildsets), state.Count(txn, state.TableBuilds); n+b > 0 {
			t.Fatalf("%s, the example config has %d buildsets and %d builds without anyone asking", when, n, b)
		}
	}
	quiet("while the master started")

	for _, s := range cfg.GetSchedulers() {
		testkit.Eventually(t, "scheduler "+s.GetName()+" activated", func() bool {
			n := m.RT.Tree.Lookup(paths.Scheduler(s.GetName()))
			return n != nil && n.State() != nil
		})
	}
	for _, cs := range cfg.GetChangeSources() {
		if cs.GetGitPoller() == nil {
			continue
		}
		testkit.Eventually(t, "change source "+cs.GetName()+" polled", func() bool {
			st, _ := m.RT.Tree.Lookup(paths.ChangeSource(cs.GetName())).State().(*structpb.Struct)
			return st.GetFields()["polls"].GetNumberValue() >= 1 && !st.GetFields()["polling"].GetBoolValue()
		})
	}
	testkit.Eventually(t, "a metrics report", func() bool { return strings.Contains(logs.String(), "metrics report") })
	quiet("once it ran")
}
