package state

import (
	"container/heap"
	"iter"

	"google.golang.org/protobuf/proto"
)

// A whole archive is read in the order of one of its lists' ids (every
// archived step by id …) by merging its segments' lists: a cursor per
// segment, in a heap by the id each is at, so that no row is decoded
// before it is yielded.

// cursor is a position pos among the items lo…end-1 of one segment's list
// ids, at one that match keeps (nil: every one), with the entry decoded
// last (a segment's rows of one entry mostly follow each other).
type cursor[S segmentMsg, E proto.Message] struct {
	seg          S
	ids          []uint64
	lo, pos, end int
	match        func(S, int) bool
	entry        int // of decoded; -1: none
	decoded      E
}

// newCursor returns a cursor over items lo…end-1 of ids, list of segment
// seg, at the first one match keeps (the last, descending); false when
// there is none.
func newCursor[S segmentMsg, E proto.Message](seg S, ids []uint64, lo, end int, match func(S, int) bool, descending bool) (*cursor[S, E], bool) {
	c := &cursor[S, E]{seg: seg, ids: ids, lo: lo, pos: lo - 1, end: end, match: match, entry: -1}
	if descending {
		c.pos = end
	}
	return c, c.next(descending)
}

// next moves the cursor to the next item match keeps, down or up; false
// when there is none.
func (c *cursor[S, E]) next(down bool) bool {
	for {
		if down {
			c.pos--
		} else {
			c.pos++
		}
		if c.pos < c.lo || c.pos >= c.end {
			return false
		}
		if c.match == nil || c.match(c.seg, c.pos) {
			return true
		}
	}
}

// id is the id the cursor is at.
func (c *cursor[S, E]) id() uint64 { return c.ids[c.pos] }

// decode returns the entry holding the item at the cursor, entry mapping
// items to entries (segList.entry); the zero E when the segment is
// damaged.
func (c *cursor[S, E]) decode(k *archiveKind[S, E], entry func(S, int) (int, bool)) E {
	e, ok := entry(c.seg, c.pos)
	if !ok {
		var zero E
		return zero
	}
	if e != c.entry {
		c.entry = e
		c.decoded, _ = k.decode(c.seg, e)
	}
	return c.decoded
}

// merged yields the cursors cs at each of their items in id order across
// them (or reversed), each at its item: a caller reads the cursor before
// it asks for the next.
func merged[S segmentMsg, E proto.Message](cs []*cursor[S, E], descending bool) iter.Seq[*cursor[S, E]] {
	return func(yield func(*cursor[S, E]) bool) {
		h := &cursorHeap[S, E]{items: cs, desc: descending}
		heap.Init(h)
		for h.Len() > 0 {
			c := h.items[0]
			if !yield(c) {
				return
			}
			if c.next(descending) {
				heap.Fix(h, 0)
			} else {
				heap.Pop(h)
			}
		}
	}
}

// cursorHeap is a heap of cursors by the id each is at.
type cursorHeap[S segmentMsg, E proto.Message] struct {
	items []*cursor[S, E]
	desc  bool
}

func (h *cursorHeap[S, E]) Len() int { return len(h.items) }
func (h *cursorHeap[S, E]) Less(i, j int) bool {
	if h.desc {
		return h.items[i].id() > h.items[j].id()
	}
	return h.items[i].id() < h.items[j].id()
}
func (h *cursorHeap[S, E]) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *cursorHeap[S, E]) Push(x any)    { h.items = append(h.items, x.(*cursor[S, E])) }
func (h *cursorHeap[S, E]) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}
