package service

import (
	"slices"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// NotRunning names, sorted, every actor not running, whatever the reason.
func TestTreeNotRunning(t *testing.T) {
	tr := NewTree()
	root, _ := tr.add(nil, "master", "master", "master")
	for path, status := range map[string]string{
		"master/db": StatusRunning, "master/botmaster": StatusStarting, "master/status": StatusRestarting,
		"master/debug": StatusFailed, "master/metrics": StatusStopping,
	} {
		n, _ := tr.add(root, path, ChildName(path), "svc")
		n.setStatus(status)
	}
	want := []string{"master", "master/botmaster", "master/debug", "master/metrics", "master/status"}
	if got := tr.NotRunning(); !slices.Equal(got, want) || tr.AllRunning() {
		t.Fatalf("NotRunning = %v (AllRunning %v), want %v", got, tr.AllRunning(), want)
	}
	for _, path := range want {
		tr.Lookup(path).setStatus(StatusRunning)
	}
	if got := tr.NotRunning(); len(got) != 0 || !tr.AllRunning() {
		t.Fatalf("NotRunning = %v once all run", got)
	}
}

// A spawn under the name of a live actor fails and leaves that actor's
// node in the tree (it used to drop it: NodeOf was then nil for a live
// actor), at the root and under a parent.
func TestSpawnUnderALiveNameKeepsItsNode(t *testing.T) {
	rt := testRuntime(t, 3, &messages.MasterConfig{})
	idle := func() actor.Actor { return actor.ReceiveFunc(func(actor.Context) {}) }
	spawned := make(chan error, 2)
	nodes := make(chan *Node, 1) // p/c's node after the first spawn
	parent := func() actor.Actor {
		return actor.ReceiveFunc(func(ctx actor.Context) {
			if _, ok := ctx.Message().(*actor.Started); ok {
				_, err := Spawn(ctx, rt, "c", "child", idle)
				spawned <- err
				nodes <- rt.Tree.Lookup("p/c")
				_, err = Spawn(ctx, rt, "c", "child", idle)
				spawned <- err
			}
		})
	}
	if _, err := SpawnRoot(rt, "p", "parent", rt.Root, parent); err != nil {
		t.Fatal(err)
	}
	if err := testkit.Recv(t, "the first spawn of p/c", spawned); err != nil {
		t.Fatal(err)
	}
	child := testkit.Recv(t, "p/c's node", nodes)
	if err := testkit.Recv(t, "the second spawn of p/c", spawned); err == nil {
		t.Fatal("a second p/c was spawned")
	}
	if got := rt.Tree.Lookup("p/c"); got == nil || got != child {
		t.Fatalf("p/c's node after a failed spawn: %p, want the live one %p", got, child)
	}
	if got := rt.Tree.Lookup("p").Children(); len(got) != 1 || got[0] != child {
		t.Fatalf("p's children after a failed spawn: %v, want the live p/c", got)
	}
	root := rt.Tree.Lookup("p")
	if _, err := SpawnRoot(rt, "p", "parent", rt.Root, idle); err == nil {
		t.Fatal("a second p was spawned")
	}
	if got := rt.Tree.Lookup("p"); got != root {
		t.Fatalf("p's node after a failed spawn: %p, want the live one %p", got, root)
	}
}

// A failed spawn does not put back the node it replaced when that node's
// actor has stopped meanwhile (its removal came while the new node stood
// in its place).
func TestUnaddForgetsAStoppedNode(t *testing.T) {
	tr := NewTree()
	root, _ := tr.add(nil, "p", "p", "parent")
	old, _ := tr.add(root, "p/c", "c", "child")
	n, prev := tr.add(root, "p/c", "c", "child")
	if prev != old {
		t.Fatalf("add replaced %p, want %p", prev, old)
	}
	tr.remove(old) // the old actor stopped: n stands in its place
	tr.unadd(n, prev)
	if got := tr.Lookup("p/c"); got != nil {
		t.Fatalf("p/c after the failed spawn: %p (old %p), want none", got, old)
	}
	if got := root.Children(); len(got) != 0 {
		t.Fatalf("p's children: %v, want none", got)
	}
}
