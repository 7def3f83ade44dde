package service

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

func TestFailingChildIsRestartedAndCounted(t *testing.T) {
	rt := testRuntime(t, 3, workers("a=1", "b=2"))
	spawnParent(t, rt)
	path := "master/svc/worker:a"
	testkit.Eventually(t, "worker running", func() bool { n := rt.Tree.Lookup(path); return n != nil && n.Status() == StatusRunning })
	for i := int64(1); i <= 3; i++ {
		rt.System.Root.Send(rt.System.NewLocalPID(path), &messages.InjectFailure{Reason: "boom"})
		testkit.Eventually(t, "restart counted", func() bool {
			n := rt.Tree.Lookup(path)
			return n != nil && n.Restarts() == i && n.Status() == StatusRunning
		})
	}
	n := rt.Tree.Lookup(path)
	if f := n.LastFailure(); f == nil || !strings.Contains(f.GetReason(), "boom") {
		t.Fatalf("last failure = %v", f)
	}
	if rt.Tree.Lookup("master/svc").Restarts() != 0 || rt.Tree.Lookup("master/svc/worker:b").Restarts() != 0 {
		t.Fatal("a failure touched the parent or a sibling")
	}
}

func TestFailurePastTheLimitEscalatesToTheGrandparent(t *testing.T) {
	rt := testRuntime(t, 1, workers("a=1", "b=2"))
	spawnParent(t, rt)
	path := "master/svc/worker:a"
	testkit.Eventually(t, "worker running", func() bool { n := rt.Tree.Lookup(path); return n != nil && n.Status() == StatusRunning })
	rt.System.Root.Send(rt.System.NewLocalPID(path), &messages.InjectFailure{Reason: "one"})
	testkit.Eventually(t, "first restart", func() bool {
		n := rt.Tree.Lookup(path)
		return n != nil && n.Restarts() == 1 && n.Status() == StatusRunning
	})
	rt.System.Root.Send(rt.System.NewLocalPID(path), &messages.InjectFailure{Reason: "two"})
	// svc is restarted by master; its children are re-created from the config.
	testkit.Eventually(t, "parent restarted", func() bool {
		p := rt.Tree.Lookup("master/svc")
		c := rt.Tree.Lookup(path)
		return p != nil && p.Restarts() == 1 && p.Status() == StatusRunning && c != nil && c.Status() == StatusRunning && c.Restarts() == 0
	})
	if f := rt.Tree.Lookup("master/svc").LastFailure(); f == nil || !strings.Contains(f.GetReason(), "failed more than 1 times") {
		t.Fatalf("parent's last failure = %v", f)
	}
	var kids []string
	for _, c := range rt.Tree.Lookup("master/svc").Children() {
		kids = append(kids, c.Name)
	}
	if !slices.Equal(kids, []string{"worker:a", "worker:b"}) {
		t.Fatalf("children after the parent's restart: %v", kids)
	}
	// The new worker:a node counts no restart, but the counter of restarts
	// by kind keeps both.
	for _, p := range []string{"master/svc", path} {
		kind := rt.Tree.Lookup(p).Kind
		if got := testutil.ToFloat64(rt.Stats.Restarts.WithLabelValues(kind)); got != 1 {
			t.Errorf("buildmaster_actor_restarts_total{kind=%q} = %v, want 1", kind, got)
		}
	}
}

func TestRootPastItsLimitGivesUp(t *testing.T) {
	rt := testRuntime(t, 0, workers())
	gaveUp := make(chan any, 1)
	rt.Root.GiveUp = func(r any) { gaveUp <- r }
	spawnParent(t, rt)
	rt.System.Root.Send(rt.System.NewLocalPID("master"), &messages.InjectFailure{Reason: "fatal"})
	if r := testkit.Recv(t, "the root's giving up, once it failed past its limit", gaveUp); !strings.Contains(r.(string), "fatal") {
		t.Fatalf("gave up with %v", r)
	}
}
