package mq

// A node of the index of filters: the filters that pass through it go on
// to lit[next segment] or, for a wildcard, to any. A publish walks one
// path per literal segment of its key plus the wildcard branches that
// exist, so its cost follows the filters that can match, not the number of
// subscribers. Nodes are created by insert and pruned by remove; all of it
// is guarded by Bus.mu.
type node struct {
	lit  map[string]*node
	any  *node
	here []*binding // filters that end at this node
	n    int        // bindings at or below this node
}

// A binding is one filter of one subscription, placed in the index.
type binding struct {
	sub *Subscription
	f   Filter
	at  int // index in the leaf's here
}

func (n *node) insert(f Filter, b *binding) {
	n.n++
	if len(f) == 0 {
		b.at = len(n.here)
		n.here = append(n.here, b)
		return
	}
	var c *node
	if f[0] == Wildcard {
		if n.any == nil {
			n.any = &node{}
		}
		c = n.any
	} else {
		if n.lit == nil {
			n.lit = make(map[string]*node)
		}
		c = n.lit[f[0]]
		if c == nil {
			c = &node{}
			n.lit[f[0]] = c
		}
	}
	c.insert(f[1:], b)
}

// remove takes b, inserted under f, out of the index and drops the nodes
// left empty.
func (n *node) remove(f Filter, b *binding) {
	n.n--
	if len(f) == 0 {
		last := n.here[len(n.here)-1]
		n.here[b.at] = last
		last.at = b.at
		n.here[len(n.here)-1] = nil
		n.here = n.here[:len(n.here)-1]
		return
	}
	if f[0] == Wildcard {
		n.any.remove(f[1:], b)
		if n.any.n == 0 {
			n.any = nil
		}
		return
	}
	c := n.lit[f[0]]
	c.remove(f[1:], b)
	if c.n == 0 {
		delete(n.lit, f[0])
	}
}
