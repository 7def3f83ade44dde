// Package treeview renders the live tree (a messages.TreeNode, as
// service.Tree.Snapshot makes it and GetTreeResponse carries it): as JSON
// (Node), and as indented text, one actor a line (WriteText). The debug
// endpoint and `buildmaster tree` both print it through this package.
package treeview

import (
	"fmt"
	"io"
	"time"

	"github.com/buildmaster/buildmaster/messages"
)

// Node is the JSON form of one actor of the tree.
type Node struct {
	Name        string   `json:"name"`
	Path        string   `json:"path"`
	Kind        string   `json:"kind"`
	Status      string   `json:"status"`
	Restarts    int64    `json:"restarts"`
	LastFailure *Failure `json:"last_failure"`
	Mailbox     int64    `json:"mailbox"`
	Processed   int64    `json:"processed"`
	Children    []*Node  `json:"children"`
}

// Failure is the JSON form of an actor's last failure.
type Failure struct {
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// FromProto converts a TreeNode to its JSON form.
func FromProto(n *messages.TreeNode) *Node {
	out := &Node{
		Name: n.GetName(), Path: n.GetPath(), Kind: n.GetKind(), Status: n.GetStatus(),
		Restarts: n.GetRestarts(), Mailbox: n.GetMailbox(), Processed: n.GetProcessed(),
		Children: make([]*Node, 0, len(n.GetChildren())),
	}
	if f := n.GetLastFailure(); f != nil {
		out.LastFailure = &Failure{Reason: f.GetReason(), Time: f.GetTime().AsTime()}
	}
	for _, c := range n.GetChildren() {
		out.Children = append(out.Children, FromProto(c))
	}
	return out
}

// WriteText writes the tree as indented text, one actor a line.
func WriteText(w io.Writer, n *messages.TreeNode) { writeText(w, n, "", "") }

func writeText(w io.Writer, n *messages.TreeNode, first, rest string) {
	line := fmt.Sprintf("%s%s [%s] %s restarts=%d mailbox=%d", first, n.GetName(), n.GetKind(), n.GetStatus(), n.GetRestarts(), n.GetMailbox())
	if f := n.GetLastFailure(); f != nil {
		line += fmt.Sprintf(" last_failure=%q at %s", f.GetReason(), f.GetTime().AsTime().Format(time.RFC3339))
	}
	fmt.Fprintln(w, line)
	kids := n.GetChildren()
	for i, c := range kids {
		if i == len(kids)-1 {
			writeText(w, c, rest+"└── ", rest+"    ")
		} else {
			writeText(w, c, rest+"├── ", rest+"│   ")
		}
	}
}
