package treeview

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

func sampleTree() *messages.TreeNode {
	leaf := func(name, kind string) *messages.TreeNode {
		return &messages.TreeNode{Name: name, Path: "master/botmaster/" + name, Kind: kind, Status: "running"}
	}
	failed := leaf("worker:linux-1", "worker")
	failed.Restarts = 2
	failed.LastFailure = &messages.Failure{Reason: "injected failure: e2e",
		Time: timestamppb.New(time.Date(2026, 11, 24, 16, 0, 0, 0, time.UTC))}
	return &messages.TreeNode{Name: "master", Path: "master", Kind: "master", Status: "running", Children: []*messages.TreeNode{
		{Name: "botmaster", Path: "master/botmaster", Kind: "botmaster", Status: "running", Mailbox: 3, Children: []*messages.TreeNode{
			leaf("brd", "brd"), leaf("builder:runtests", "builder"), failed,
		}},
		{Name: "caches", Path: "master/caches", Kind: "cache_manager", Status: "restarting"},
	}}
}

func TestWriteTextGolden(t *testing.T) {
	var b bytes.Buffer
	WriteText(&b, sampleTree())
	testkit.Golden(t, filepath.Join("testdata", "tree.txt.golden"), b.Bytes())
}

func TestFromProtoKeepsEveryNodeAndNullFailure(t *testing.T) {
	n := FromProto(sampleTree())
	if n.LastFailure != nil || len(n.Children) != 2 || len(n.Children[0].Children) != 3 {
		t.Fatalf("converted tree = %+v", n)
	}
	if f := n.Children[0].Children[2].LastFailure; f == nil || f.Reason != "injected failure: e2e" {
		t.Fatalf("failure lost: %+v", f)
	}
	if n.Children[1].Children == nil {
		t.Fatal("a leaf's children must be [] in JSON, not null")
	}
}
