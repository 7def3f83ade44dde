package reporters

import (
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// States returns the state of every running reporter, by name, as its
// actor last showed it, with its outbox's counts read from the state now.
// It is for the status pages and JSON (the master page lists reporters with
// their backlog, last success and last error); it never blocks on an actor.
func States(rt *service.Runtime) []*messages.ReporterState {
	parent := rt.Tree.Lookup(paths.Status)
	if parent == nil {
		return nil
	}
	var out []*messages.ReporterState
	txn := rt.DB.Read()
	for _, n := range parent.Children() {
		st, ok := n.State().(*messages.ReporterState)
		if !ok || n.Kind != kind {
			continue
		}
		st = proto.CloneOf(st)
		if row := state.ReporterRow(txn, st.Name); row != nil {
			st.Pending, st.Dropped = row.Pending, row.Dropped
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *messages.ReporterState) int { return strings.Compare(a.Name, b.Name) })
	return out
}
