package state

import (
	"testing"

	"github.com/buildmaster/buildmaster/messages"
)

// TestMasterLifecycle runs a master through what it writes about itself:
// it configures builders and workers (builder_masters, configured_workers)
// beside another master's, reconfigures them, beats, and stops with a build
// running; then starts again. The database after each phase is compared
// with testdata/masters.golden (-update rewrites it).
func TestMasterLifecycle(t *testing.T) {
	db := fixture(t) // master 1; builders b1, b2; request 1 claimed by master 1, build 1 running
	sc := &scenario{t: t, db: db}
	configure := func(m uint64, builders []*messages.ConfiguredBuilder, workers ...*messages.ConfiguredWorker) *messages.Command {
		return cmd(&messages.ConfigureMaster{Masterid: m, Schedulers: []string{"force"}, Builders: builders, Workers: workers})
	}
	bldr := func(name, description string, tags ...string) *messages.ConfiguredBuilder {
		return &messages.ConfiguredBuilder{Name: name, Description: description, Tags: tags}
	}
	wkr := func(name string, builders ...string) *messages.ConfiguredWorker {
		return &messages.ConfiguredWorker{Name: name, Builders: builders}
	}

	sc.phase("master 1 runs b1 and b2 (b2 described, a new b3 too), w1 on b1 and b2, w2 on none; master 2 runs b2 with w1",
		configure(1, []*messages.ConfiguredBuilder{bldr("b1", ""), bldr("b2", "the second", "x", "y"), bldr("b3", "")},
			wkr("w1", "b1", "b2"), wkr("w2")),
		masterStarted(0, "m2", 105),
		configure(2, []*messages.ConfiguredBuilder{bldr("b2", "the second", "x", "y")}, wkr("w1", "b2")),
	)
	sc.phase("master 1 drops b3 and w2, moves w1 to b2 alone; b2's description changes",
		configure(1, []*messages.ConfiguredBuilder{bldr("b1", ""), bldr("b2", "renamed")}, wkr("w1", "b2")),
	)
	sc.phase("master 1 beats",
		cmd(&messages.MasterActive{Masterid: 1, Time: 130}),
	)
	res := sc.phase("master 1 stops with build 1 running: inactive as of its stop, housekeeping done, master 2 untouched",
		cmd(&messages.MasterStopped{Masterid: 1, Time: 140}),
	)[0]
	if res.GetId() != 1 || res.GetBuildsRetried() != 1 || res.GetRequestsUnclaimed() != 1 {
		t.Fatalf("MasterStopped result %v", res)
	}
	sc.phase("master 1 starts again: active; nothing left to clean",
		masterStarted(1, "", 150),
	)

	sc.refused(cmd(&messages.MasterActive{Masterid: 9, Time: 1}), "master_active", "master 9 does not exist")
	sc.refused(cmd(&messages.MasterStopped{Masterid: 1}), "master_stopped", "time is required")
	sc.refused(configure(1, []*messages.ConfiguredBuilder{bldr("b1", "")}, wkr("w1", "b2")),
		"configure_master", `workers[0].builders[0]: "b2" is not one of the master's builders`)
	sc.refused(configure(1, []*messages.ConfiguredBuilder{bldr("", "")}), "configure_master", "builders[0].name is empty")
	sc.refused(configure(1, nil, wkr("")), "configure_master", "workers[0].name is empty")
	sc.golden("masters.golden")
}
