package master

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// startDurable starts a master on body keeping its state in dir, with a
// clock that moves one second each time it is read and the given heartbeat.
func startDurable(t *testing.T, dir, body string, heartbeat time.Duration, clock *atomic.Int64) *Master {
	t.Helper()
	www, debug := testkit.Listen(t), testkit.Listen(t)
	cfg, err := config.Load("test.yaml", testYAML(debug.Addr().String(), www.Addr().String(), body))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Start(Options{Config: cfg, Token: token, Log: slog.New(slog.DiscardHandler), NoRemote: true, DataDir: dir,
		Listeners: Listeners{WWW: www, Debug: debug}, Heartbeat: heartbeat,
		Now: func() time.Time { return time.Unix(clock.Add(1), 0) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(10 * time.Second) })
	return m
}

// TestMastersRowFollowsTheMaster: the master's row is active from its
// start, its last_active moved by each heartbeat, and inactive once it has
// stopped, last_active being when it stopped.
func TestMastersRowFollowsTheMaster(t *testing.T) {
	dir := t.TempDir()
	var clock atomic.Int64
	clock.Store(1_000_000)
	m := startDurable(t, dir, oneBuilder, time.Millisecond, &clock)
	started := state.Lookup(m.RT.DB.Read(), state.TableMasters, m.RT.MasterID).(*messages.Master)
	if !started.GetActive() || started.GetLastActive() != 1_000_001 {
		t.Fatalf("masters row at start: %v", started)
	}
	testkit.Eventually(t, "heartbeats", func() bool {
		row := state.Lookup(m.RT.DB.Read(), state.TableMasters, m.RT.MasterID).(*messages.Master)
		return row.GetActive() && row.GetLastActive() >= started.GetLastActive()+3
	})
	if err := m.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(filepath.Join(dir, StateDir), state.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stopped := state.Lookup(st.Read(), state.TableMasters, 1).(*messages.Master)
	if stopped.GetActive() || stopped.GetLastActive() != clock.Load() {
		t.Fatalf("masters row after the stop: %v (the clock last said %d)", stopped, clock.Load())
	}
}

// TestBuildersAndWorkersAreConfiguredOnTheMaster: the data API's
// builders.masterids and workers.configured_on follow the config, through
// reconfigs, and are emptied when the master stops.
func TestBuildersAndWorkersAreConfiguredOnTheMaster(t *testing.T) {
	dir := t.TempDir()
	var clock atomic.Int64
	clock.Store(1_000_000)
	m := startDurable(t, dir, `
workers: [{name: w1}, {name: w2}, {name: w3}]
builders:
  - {name: b1, workers: [w1, w2], description: first, tags: [t], steps: [{shell: {command: [true]}}]}
  - {name: b2, workers: [w2], steps: [{shell: {command: [true]}}]}
`, time.Hour, &clock)
	id := m.RT.MasterID
	configured := func(st *state.Store) string {
		txn := st.Read()
		out := ""
		for _, name := range []string{"b1", "b2"} {
			b, _ := state.First(txn, state.TableBuilders, state.IndexName, name).(*messages.Builder)
			out += fmt.Sprintf("%s %q %v %v; ", name, b.GetDescription(), b.GetTags(), b.GetMasterids())
		}
		for _, name := range []string{"w1", "w2", "w3"} {
			w, _ := state.First(txn, state.TableWorkers, state.IndexName, name).(*messages.Worker)
			var on []string
			for _, co := range w.GetConfiguredOn() {
				b, _ := state.Lookup(txn, state.TableBuilders, co.GetBuilderid()).(*messages.Builder)
				on = append(on, fmt.Sprintf("%s@%d", b.GetName(), co.GetMasterid()))
			}
			slices.Sort(on)
			out += fmt.Sprintf("%s %v; ", name, on)
		}
		return out
	}
	wait := func(want string) {
		t.Helper()
		testkit.Retry(t, func() error {
			if got := configured(m.RT.DB); got != want {
				return fmt.Errorf("configured:\n got %s\nwant %s", got, want)
			}
			return nil
		})
	}
	wait(fmt.Sprintf(`b1 "first" [t] [%d]; b2 "" [] [%d]; w1 [b1@%d]; w2 [b1@%d b2@%d]; w3 []; `, id, id, id, id, id))

	if r := reconfigure(t, m, testYAML(m.DebugAddr, m.WWWAddr, `
workers: [{name: w1}, {name: w2}]
builders: [{name: b1, workers: [w2], steps: [{shell: {command: [true]}}]}]
`), false); !r.GetOk() {
		t.Fatalf("reconfig: %v", r)
	}
	wait(fmt.Sprintf(`b1 "" [] [%d]; b2 "" [] []; w1 []; w2 [b1@%d]; w3 []; `, id, id))

	if err := m.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(filepath.Join(dir, StateDir), state.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, want := configured(st), `b1 "" [] []; b2 "" [] []; w1 []; w2 []; w3 []; `; got != want {
		t.Fatalf("after the stop:\n got %s\nwant %s", got, want)
	}
}
