package botmaster_test

import (
	"fmt"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// TestMessagesPerBuild: what a one-step build costs the actors it goes
// through, in messages each takes from its mailbox. brd: the build's
// claimDone and BuildFinished (a builder wakes it when a build's actor is
// gone only if it refused a start meanwhile); the builder: StartBuild and
// its build's end (Terminated); the worker: the build's start and end, its
// command.
func TestMessagesPerBuild(t *testing.T) {
	const nw, builds = 4, 40
	m := startBench(t, benchConfig(nw, nw, 1, 1, ""), nw, nil)
	actors := map[string]float64{paths.BRD: 2}
	for i := range nw {
		actors[paths.Builder(fmt.Sprintf("b%04d", i))] = 2
		actors[paths.Worker(fmt.Sprintf("w%03d", i))] = 3
	}
	before := map[string]int64{}
	for path := range actors {
		before[path] = m.RT.Tree.Lookup(path).Processed()
	}
	queue(t, m, nw, nw, builds)
	m.RT.System.Root.Send(actor.NewPID(m.RT.System.Address(), paths.BRD), &messages.MaybeStartBuilds{})
	testkit.Eventually(t, "every build's end", func() bool { return allComplete(m) })
	// brd hears of the last build's end after its request is complete.
	testkit.Eventually(t, "brd quiet", func() bool {
		brd := m.RT.Tree.Lookup(paths.BRD)
		n := brd.Processed()
		return brd.Mailbox() == 0 && n >= before[paths.BRD]+int64(builds)
	})
	for path, want := range actors {
		perBuild := float64(m.RT.Tree.Lookup(path).Processed()-before[path]) / float64(builds/nw)
		if path == paths.BRD {
			perBuild /= nw
		}
		if perBuild > want+0.1 {
			t.Errorf("%s: %.2f messages per build, want %v", path, perBuild, want)
		}
	}
}
