package service

import (
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

func TestApplyConfigDiffsChildrenInPlace(t *testing.T) {
	rt := testRuntime(t, 10, workers("a=1", "b=2", "c=3"))
	spawnParent(t, rt)
	testkit.Eventually(t, "children running", func() bool { return rt.Tree.Len() == 5 })
	// Crash b so that an in-place change can be told from a replacement.
	rt.System.Root.Send(rt.System.NewLocalPID("master/svc/worker:b"), &messages.InjectFailure{})
	testkit.Eventually(t, "b restarted", func() bool {
		n := rt.Tree.Lookup("master/svc/worker:b")
		return n != nil && n.Restarts() == 1 && n.Status() == StatusRunning
	})
	cNode := rt.Tree.Lookup("master/svc/worker:c")

	next := workers("b=9", "c=3", "d=4")
	next.Supervision = rt.Config().GetSupervision()
	rt.SetConfig(2, next)
	res, err := rt.System.Root.RequestFuture(rt.System.NewLocalPID("master/svc"),
		&messages.ApplyConfig{Generation: 2, Config: next}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	ack := res.(*messages.ConfigApplied)
	want := []string{"ADDED master/svc/worker:d", "CHANGED master/svc/worker:b", "REMOVED master/svc/worker:a"}
	if got := changeStrings(ack.GetChanges()); !slices.Equal(got, want) || ack.GetPath() != "master/svc" || ack.GetGeneration() != 2 {
		t.Fatalf("ack = %v %v, want %v", ack.GetPath(), got, want)
	}
	testkit.Eventually(t, "a stopped, d running", func() bool {
		d := rt.Tree.Lookup("master/svc/worker:d")
		return rt.Tree.Lookup("master/svc/worker:a") == nil && d != nil && d.Status() == StatusRunning
	})
	b := rt.Tree.Lookup("master/svc/worker:b")
	if b.Restarts() != 1 {
		t.Fatalf("changed child was replaced: restarts %d", b.Restarts())
	}
	testkit.Eventually(t, "b shows its new config", func() bool {
		st, _ := b.State().(*messages.WorkerConfig)
		return st != nil && st.GetName() == "b"
	})
	if rt.Tree.Lookup("master/svc/worker:c") != cNode || cNode.Processed() != 0 {
		t.Fatalf("unchanged child was touched (processed %d)", cNode.Processed())
	}
}

func ExampleIDs() {
	l := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	l.Info("added buildset", IDs("changes", []uint64{3, 4, 7}))
	// Output: level=INFO msg="added buildset" changes=3,4,7
}
