package db

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// What the tests of both test packages of this directory (db and db_test)
// build their states with: commands written to a state directly or through
// a running master's db service, and the build with logs most of them
// start from. Exported for db_test; it is compiled into tests only.

// Submitter writes one command: to a state.Store (StoreSubmitter), or
// through a running master's db service (Call).
type Submitter func(*messages.Command) (*messages.CommandResult, error)

// StoreSubmitter writes to st directly.
func StoreSubmitter(st *state.Store) Submitter {
	return func(c *messages.Command) (*messages.CommandResult, error) { return st.Submit(c).Wait() }
}

// ApplyAll writes the commands ks in order and fails t at the first one
// refused; it returns the last one's result.
func ApplyAll(t testing.TB, submit Submitter, ks ...proto.Message) *messages.CommandResult {
	t.Helper()
	var res *messages.CommandResult
	for _, k := range ks {
		var err error
		if res, err = submit(messages.NewCommand(k)); err != nil {
			t.Fatalf("%T: %v", k, err)
		}
	}
	return res
}

// AddTestBuild adds a build of master masterid on builder "b" (added if it
// is not there), started at at, whose one step "s" has the logs named; it
// returns the build's id, the step's and the logs' in order.
func AddTestBuild(t testing.TB, submit Submitter, masterid uint64, at int64, logNames ...string) (buildid, stepid uint64, logids []uint64) {
	t.Helper()
	b := ApplyAll(t, submit, &messages.FindOrAddBuilder{Name: "b"})
	res := ApplyAll(t, submit, &messages.AddBuild{Builderid: b.GetId(), Masterid: masterid, StartedAt: at,
		Steps: []*messages.AddStep{{Name: "s", StartedAt: at, LogNames: logNames}}})
	return res.GetId(), res.GetIds()[0], res.GetIds()[1:]
}

// commands cuts e into Expire commands of batch builds or logs (ten times
// as many simpler rows), as the janitor does at that size.
func (e expiry) commands(batch int) []*messages.Expire {
	if batch <= 0 {
		batch = DefaultJanitorBatch
	}
	var out []*messages.Expire
	for x := e.next(batch); x != nil; x = e.next(batch) {
		out = append(out, x)
	}
	return out
}
