package ui

import (
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
)

// watchCache remembers values read from one version of the state, each
// under its key with the watch channel of the rows it was read from (a
// memdb iterator's WatchCh): the same channel, still open, in another
// version means the very same rows, so the value read then is that
// version's too. Safe for concurrent use; values are shared: read-only.
type watchCache[K comparable, V any] struct {
	lru *lru.Cache[K, watched[V]]
}

// watched is a value with the watch channel of the rows it was read from.
type watched[V any] struct {
	v       V
	changed <-chan struct{}
}

// newWatchCache returns a watchCache of up to size values.
func newWatchCache[K comparable, V any](size int) (*watchCache[K, V], error) {
	c, err := lru.New[K, watched[V]](size)
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	return &watchCache[K, V]{lru: c}, nil
}

// get returns the value remembered under key for rows whose watch channel
// is ch, else the one read returns, remembered when ch is open. A closed
// ch is an older version's, and may be shared by several: what read
// returns then is not remembered.
func (c *watchCache[K, V]) get(key K, ch <-chan struct{}, read func() V) V {
	select {
	case <-ch:
		return read()
	default:
	}
	if w, ok := c.lru.Get(key); ok && w.changed == ch {
		return w.v
	}
	v := read()
	c.lru.Add(key, watched[V]{v: v, changed: ch})
	return v
}
