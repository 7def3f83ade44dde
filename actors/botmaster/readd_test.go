package botmaster_test

import (
	"context"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// holdingConn is the connection of worker w: it hands each command it is
// asked to start to the test, which completes it (completeCommand) when it
// wants.
type holdingConn struct {
	fakeConn
	started chan heldCommand
}

// heldCommand is a command a holdingConn holds, and who waits for its end.
type heldCommand struct {
	start *messages.StartCommand
	from  *actor.PID
}

func (h *holdingConn) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(*messages.StartCommand); ok {
		h.started <- heldCommand{start: m, from: ctx.Sender()}
		return
	}
	h.fakeConn.Receive(ctx)
}

// completeCommand ends the held command with rc 0.
func completeCommand(m *master.Master, c heldCommand) {
	m.RT.System.Root.Send(c.from, &messages.CommandUpdate{CommandId: c.start.GetCommandId(),
		Kind: &messages.CommandUpdate_Complete{Complete: &messages.CommandComplete{Rc: 0}}})
}

// A builder removed while it builds, and added again, starts once its
// retiring namesake has stopped; a build forced on it meanwhile runs then.
// (brd asked the retiring namesake, which refused it; nothing woke brd
// for the new builder, and the request waited until something else did.)
func TestBuilderAddedAgainWhileRetiringBuildsItsRequests(t *testing.T) {
	w := &holdingConn{fakeConn: fakeConn{worker: "w"}, started: make(chan heldCommand, 10)}
	m := startWorker(t, `
builders:
  - {name: b, workers: [w], steps: [{shell: {command: ['true']}}]}
  - {name: other, workers: [w], steps: [{shell: {command: ['true']}}]}
schedulers: [{name: force, type: force, builders: [b, other]}]
`, w)
	withB := proto.Clone(m.RT.Config()).(*messages.MasterConfig)
	withoutB := proto.Clone(withB).(*messages.MasterConfig)
	withoutB.Builders = withoutB.Builders[1:]
	withoutB.Schedulers[0].Builders = []string{"other"}
	forced := func() []uint64 {
		t.Helper()
		r, err := ask.Ask[*messages.ForceBuildResponse](context.Background(), m.RT.System.Root, actor.NewPID(m.RT.System.Address(), paths.Schedulers),
			&messages.ForceBuildRequest{Token: mastertest.Token, Builder: "b"})
		if err != nil {
			t.Fatalf("force b: %v", err)
		}
		return r.GetBrids()
	}
	reconfig := func(cfg *messages.MasterConfig) {
		t.Helper()
		r, err := ask.Ask[*messages.ReconfigureResponse](context.Background(), m.RT.System.Root, m.PID,
			&messages.ReconfigureRequest{Token: mastertest.Token, Config: cfg})
		if err != nil || !r.GetOk() {
			t.Fatalf("reconfig: %v %v", r, err)
		}
	}

	first := forced()
	running := testkit.Recv(t, "the first build's command", w.started)
	reconfig(withoutB) // b retires: its build runs on
	reconfig(withB)    // the new b waits for it
	second := forced()
	completeCommand(m, running)
	testkit.Eventually(t, "the first build done", func() bool { return complete(m, first) })
	completeCommand(m, testkit.Recv(t, "the second build's command", w.started))
	testkit.Eventually(t, "the second build done", func() bool { return complete(m, second) })
}
