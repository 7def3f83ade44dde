// Package treeview renders the live tree (a messages.TreeNode, as
// service.Tree.Snapshot makes it and GetTreeResponse carries it): as JSON
// (Node), and as indented text, one actor a line (WriteText). The debug
// endpoint and `buildmaster tree` both print it through this package.
package treeview

import (
	"io"
	"strconv"
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

// WriteText writes the tree as indented text, one actor a line, in one
// write.
func WriteText(w io.Writer, n *messages.TreeNode) error {
	_, err := w.Write(AppendText(nil, n))
	return err
}

// AppendText appends the tree as WriteText writes it to b.
func AppendText(b []byte, n *messages.TreeNode) []byte { return appendText(b, n, "", "") }

// appendText appends n's line, first before it, and its children's, each
// prefixed by rest and its branch.
func appendText(b []byte, n *messages.TreeNode, first, rest string) []byte {
	b = append(b, first...)
	b = append(b, n.GetName()...)
	b = append(b, " ["...)
	b = append(b, n.GetKind()...)
	b = append(b, "] "...)
	b = append(b, n.GetStatus()...)
	b = append(b, " restarts="...)
	b = strconv.AppendInt(b, n.GetRestarts(), 10)
	b = append(b, " mailbox="...)
	b = strconv.AppendInt(b, n.GetMailbox(), 10)
	if f := n.GetLastFailure(); f != nil {
		b = append(b, " last_failure="...)
		b = strconv.AppendQuote(b, f.GetReason())
		b = append(b, " at "...)
		b = f.GetTime().AsTime().AppendFormat(b, time.RFC3339)
	}
	b = append(b, '\n')
	kids := n.GetChildren()
	if len(kids) == 0 {
		return b
	}
	mid, midRest, last, lastRest := rest+"├── ", rest+"│   ", rest+"└── ", rest+"    "
	for i, c := range kids {
		if i == len(kids)-1 {
			b = appendText(b, c, last, lastRest)
		} else {
			b = appendText(b, c, mid, midRest)
		}
	}
	return b
}
