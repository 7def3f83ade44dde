package service

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/buildmaster/buildmaster/messages"
)

// Status values of a Node.
const (
	StatusStarting   = "starting"
	StatusRunning    = "running"
	StatusFailed     = "failed"
	StatusRestarting = "restarting"
	StatusStopping   = "stopping"
)

// Tree is the live bookkeeping of the actor tree. Actors spawned through this
// package register their Node here when spawned and remove it when stopped;
// each parent's Node knows its children. Readers (the debug endpoint, the tree
// request) read it without going through any actor's mailbox, so a wedged
// actor never hides the tree. Safe for concurrent use.
type Tree struct {
	mu    sync.RWMutex
	nodes map[string]*Node // by path (the actor's PID id)
}

// NewTree returns an empty Tree.
func NewTree() *Tree { return &Tree{nodes: make(map[string]*Node)} }

// Node is one actor's bookkeeping. Its counters are updated by the actor's
// middleware and by its parent's supervisor strategy.
type Node struct {
	Name   string // the configured name, e.g. "builder:runtests"
	Path   string // the PID id: names from "master" joined by "/"
	Kind   string
	parent *Node

	status    atomic.Value // string
	restarts  atomic.Int64
	processed atomic.Int64
	mailbox   atomic.Value // actor.Mailbox
	failure   atomic.Pointer[messages.Failure]
	state     atomic.Pointer[proto.Message]
	live      atomic.Pointer[func() proto.Message]
	condition atomic.Pointer[func() string]

	removed bool // its actor stopped (the Tree's mu)

	mu       sync.Mutex
	children map[string]*Node
}

// Status returns the node's lifecycle status.
func (n *Node) Status() string {
	s, _ := n.status.Load().(string)
	return s
}

func (n *Node) setStatus(s string) { n.status.Store(s) }

// Restarts returns how many times the actor was restarted by its parent.
func (n *Node) Restarts() int64 { return n.restarts.Load() }

// LastFailure returns the last failure, or nil.
func (n *Node) LastFailure() *messages.Failure { return n.failure.Load() }

// Mailbox returns the number of user messages waiting.
func (n *Node) Mailbox() int64 {
	if mb, ok := n.mailbox.Load().(actor.Mailbox); ok {
		return int64(mb.UserMessageCount())
	}
	return 0
}

// SetState publishes what the actor wants to show about itself (usually its
// config). The message must not be mutated afterwards. It may hold secrets:
// whoever shows State must redact it (messages.Redacted).
func (n *Node) SetState(m proto.Message) {
	n.live.Store(nil)
	n.state.Store(&m)
}

// SetLiveState publishes figures that change all the time (counters): each
// State calls fn, from any goroutine, until the next SetState or
// SetLiveState.
func (n *Node) SetLiveState(fn func() proto.Message) { n.live.Store(&fn) }

// State returns what the actor last published (SetLiveState's function's
// answer now), or nil.
func (n *Node) State() proto.Message {
	if fn := n.live.Load(); fn != nil {
		return (*fn)()
	}
	if p := n.state.Load(); p != nil {
		return *p
	}
	return nil
}

// SetCondition sets what the node's status shows instead of "running"
// whenever cond returns something (e.g. "degraded: disk full"); its
// lifecycle (Status, AllRunning) is unchanged. cond must be cheap and safe
// for concurrent use.
func (n *Node) SetCondition(cond func() string) { n.condition.Store(&cond) }

// shownStatus is the status a snapshot shows: the lifecycle status, or the
// condition of a running node.
func (n *Node) shownStatus() string {
	s := n.Status()
	if c := n.condition.Load(); c != nil && s == StatusRunning {
		if cs := (*c)(); cs != "" {
			return cs
		}
	}
	return s
}

func (n *Node) recordFailure(reason string, at time.Time) {
	n.failure.Store(&messages.Failure{Reason: reason, Time: timestamppb.New(at)})
	n.setStatus(StatusFailed)
}

// add registers a node for path under parent (nil for a root). It replaces a
// previous node of the same path, which can only be one that is stopping.
func (t *Tree) add(parent *Node, path, name, kind string) (n, prev *Node) {
	n = &Node{Name: name, Path: path, Kind: kind, parent: parent, children: map[string]*Node{}}
	n.setStatus(StatusStarting)
	t.mu.Lock()
	defer t.mu.Unlock()
	prev = t.nodes[path]
	t.nodes[path] = n
	if parent != nil {
		parent.mu.Lock()
		parent.children[path] = n
		parent.mu.Unlock()
	}
	return n, prev
}

// remove drops n, unless its path has been taken by a newer node.
func (t *Tree) remove(n *Node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n.removed = true
	t.replace(n, nil)
}

// unadd drops n, whose actor was not spawned, and puts back prev, the
// node add replaced (the live actor under that name: its spawn is what
// failed), unless prev's actor has stopped meanwhile.
func (t *Tree) unadd(n, prev *Node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev != nil && prev.removed {
		prev = nil
	}
	t.replace(n, prev)
}

// replace puts by (nil: nothing) where n is, in the tree and its parent,
// unless n's path has been taken by a newer node. t.mu is held.
func (t *Tree) replace(n, by *Node) {
	if t.nodes[n.Path] == n {
		if by != nil {
			t.nodes[n.Path] = by
		} else {
			delete(t.nodes, n.Path)
		}
	}
	if p := n.parent; p != nil {
		p.mu.Lock()
		if p.children[n.Path] == n {
			if by != nil {
				p.children[n.Path] = by
			} else {
				delete(p.children, n.Path)
			}
		}
		p.mu.Unlock()
	}
}

// Lookup returns the node at path, or nil.
func (t *Tree) Lookup(path string) *Node {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.nodes[path]
}

// AllRunning reports whether every actor in the tree has handled Started
// and is not restarting or stopping.
func (t *Tree) AllRunning() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, n := range t.nodes {
		if n.Status() != StatusRunning {
			return false
		}
	}
	return true
}

// NotRunning returns the paths, sorted, of the actors that are not
// running: starting, restarting, failed or stopping.
func (t *Tree) NotRunning() []string {
	t.mu.RLock()
	var out []string
	for path, n := range t.nodes {
		if n.Status() != StatusRunning {
			out = append(out, path)
		}
	}
	t.mu.RUnlock()
	sort.Strings(out)
	return out
}

// Len returns the number of live actors.
func (t *Tree) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.nodes)
}

// Snapshot returns the subtree at path as a TreeNode, children sorted by
// name, or nil when there is no such node.
func (t *Tree) Snapshot(path string) *messages.TreeNode {
	n := t.Lookup(path)
	if n == nil {
		return nil
	}
	return n.snapshot()
}

// Children returns the node's children sorted by name.
func (n *Node) Children() []*Node {
	n.mu.Lock()
	kids := make([]*Node, 0, len(n.children))
	for _, c := range n.children {
		kids = append(kids, c)
	}
	n.mu.Unlock()
	sort.Slice(kids, func(i, j int) bool { return kids[i].Name < kids[j].Name })
	return kids
}

func (n *Node) snapshot() *messages.TreeNode {
	out := &messages.TreeNode{
		Name:        n.Name,
		Path:        n.Path,
		Kind:        n.Kind,
		Status:      n.shownStatus(),
		Restarts:    n.Restarts(),
		LastFailure: n.LastFailure(),
		Mailbox:     n.Mailbox(),
		Processed:   n.Processed(),
	}
	for _, c := range n.Children() {
		out.Children = append(out.Children, c.snapshot())
	}
	return out
}

// ChildName returns the last element of a path.
func ChildName(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// Processed returns how many messages the actor has processed.
func (n *Node) Processed() int64 { return n.processed.Load() }
