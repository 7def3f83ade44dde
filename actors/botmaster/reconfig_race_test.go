package botmaster_test

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/paths"
	istate "github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// raceRounds is how many builders TestReconfigForceRace adds, each forced
// in the same instant as the reconfig that adds it. 1,000 keeps the test
// meaningful at a third of the time 3,000 took (60 s idle, over 250 s
// under race on a loaded 2-core machine): before the fix, 114 of 300
// requests stayed stuck, so 1,000 rounds catch the race many times over.
const raceRounds = 1000

// A builder added by a reconfig is forced at once, raceRounds times, on
// one worker that takes one build at a time: every request is built, so
// none was left claimed, and no worker slot stayed reserved (one would
// wedge every later build). Before the master applied a config in order
// (workers and builders before the distributor and the schedulers), brd
// could ask a builder that did not exist yet; the start went to dead
// letters, and the request and the slot stayed reserved until a restart.
// Builders whose request is built are removed, so the config stays small.
func TestReconfigForceRace(t *testing.T) {
	rounds := raceRounds
	if testing.Short() {
		rounds = 300
	}
	m := startWorker(t, `
builders: [{name: b0, workers: [w], steps: [{shell: {command: ['true']}}]}]
schedulers: [{name: force, type: force, builders: [b0]}]
`, &fakeConn{worker: "w", instant: true})
	base := proto.Clone(m.RT.Config()).(*messages.MasterConfig)
	template := base.GetBuilders()[0]

	live := map[string][]uint64{"b0": nil} // builder → its forced requests
	var all []uint64
	for i := 1; i <= rounds; i++ {
		name := fmt.Sprintf("b%d", i)
		live[name] = nil
		cfg := proto.Clone(base).(*messages.MasterConfig)
		cfg.Builders, cfg.Schedulers[0].Builders = nil, nil
		for _, b := range slices.Sorted(maps.Keys(live)) {
			bc := proto.Clone(template).(*messages.BuilderConfig)
			bc.Name, bc.Builddir = b, b
			cfg.Builders = append(cfg.Builders, bc)
			cfg.Schedulers[0].Builders = append(cfg.Schedulers[0].Builders, b)
		}
		reconfig := m.RT.System.Root.RequestFuture(m.PID, &messages.ReconfigureRequest{Token: mastertest.Token, Config: cfg}, time.Minute)
		brids := force(t, m, name, uint64(i+1))
		live[name] = brids
		all = append(all, brids...)
		res, err := reconfig.Result()
		if r, ok := res.(*messages.ReconfigureResponse); err != nil || !ok || !r.GetOk() || len(r.GetWarnings()) > 0 {
			t.Fatalf("round %d: reconfig %v %v", i, res, err)
		}
		for b, ids := range live {
			if b != name && complete(m, ids) {
				delete(live, b)
			}
		}
	}
	testkit.Retry(t, func() error {
		var waiting []uint64
		for _, id := range all {
			if !complete(m, []uint64{id}) {
				waiting = append(waiting, id)
			}
		}
		if len(waiting) > 0 {
			return fmt.Errorf("%d of %d forced requests are not built: %v", len(waiting), len(all), waiting[:min(len(waiting), 10)])
		}
		return nil
	})
}

// force forces builder as soon as the master has installed generation gen
// (the config that lists it), while the services are still applying it,
// and returns the requests it made.
func force(t *testing.T, m *master.Master, builder string, gen uint64) []uint64 {
	t.Helper()
	for m.RT.Generation() < gen {
		runtime.Gosched()
	}
	r, err := ask.Ask[*messages.ForceBuildResponse](context.Background(), m.RT.System.Root, actor.NewPID(m.RT.System.Address(), paths.Schedulers),
		&messages.ForceBuildRequest{Token: mastertest.Token, Builder: builder})
	if err != nil {
		t.Fatalf("force %s: %v", builder, err)
	}
	return r.GetBrids()
}

// complete reports whether every request of ids is complete.
func complete(m *master.Master, ids []uint64) bool {
	txn := m.RT.DB.Read()
	for _, id := range ids {
		if r, _ := istate.Lookup(txn, istate.TableBuildRequests, id).(*messages.BuildRequest); !r.GetComplete() {
			return false
		}
	}
	return true
}

// startWorker starts a master on body plus one worker, w (max_builds 1),
// connected through conn (a connection actor standing in for pbmanager's).
func startWorker(t *testing.T, body string, conn actor.Actor) *master.Master {
	t.Helper()
	m := mastertest.Start(t, "workers: [{name: w, password: pw, max_builds: 1, keepalive_interval: 1h}]\n"+body, "", nil)
	if _, err := m.RT.System.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return conn }), "fakeconn:w"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "worker w connected", func() bool { return state(m, "w").GetConnected() })
	return m
}
