package iradix

import "sync/atomic"

// watchCh is a node's or a leaf's mutation channel, made only when someone
// asks for it (get): most nodes are never watched, and the two channels
// made for each node and leaf were most of a tree's memory. fire closes
// the channel, or, when none was made yet, leaves a closed one in its
// place, so that a reader of an old version of the tree that asks later is
// told at once.
//
// This is the first of the changes of this copy of go-immutable-radix v1.3.1
// (buildmaster: see third_party/README.md).
type watchCh struct {
	p atomic.Pointer[chan struct{}]
}

// closedCh is the channel of every node fired before anyone watched it.
var closedCh = func() *chan struct{} {
	c := make(chan struct{})
	close(c)
	return &c
}()

// get returns the channel, making it when it was never asked for.
func (w *watchCh) get() chan struct{} {
	if p := w.p.Load(); p != nil {
		return *p
	}
	c := make(chan struct{})
	if w.p.CompareAndSwap(nil, &c) {
		return c
	}
	return *w.p.Load()
}

// fire closes the channel (once: firing again does nothing), or marks it
// closed when it was never made.
func (w *watchCh) fire() {
	if w.p.CompareAndSwap(nil, closedCh) {
		return
	}
	ch := *w.p.Load()
	select {
	case <-ch:
	default:
		close(ch)
	}
}
