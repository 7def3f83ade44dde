package mq

import (
	"context"
	"fmt"
)

// A Subscription is one subscriber's queue and filters. Its methods are
// safe for concurrent use.
type Subscription struct {
	bus       *Bus
	ch        chan *Event
	ctx       context.Context
	cancel    context.CancelCauseFunc
	stopWatch func() bool // stops the watch on the parent context

	// Guarded by bus.mu.
	filters map[string]*binding // by Filter.String()
	seen    uint64              // Seq of the last event queued
	ended   bool
}

// Events delivers the matching events in publication order, each once. It
// is closed when the subscription ends; events queued before that can
// still be received.
func (s *Subscription) Events() <-chan *Event { return s.ch }

// Context is done when the subscription has ended; context.Cause says
// why (ErrSlow, ErrUnsubscribed, ErrClosed or the parent context's cause).
func (s *Subscription) Context() context.Context { return s.ctx }

// Add starts delivering events that match f. It reports false if f was
// already added (the subscriber still gets each event once), and an error
// if f is malformed or the subscription has ended.
func (s *Subscription) Add(f Filter) (bool, error) {
	if err := f.Check(); err != nil {
		return false, err
	}
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.ended {
		return false, fmt.Errorf("subscription ended: %w", context.Cause(s.ctx))
	}
	name := f.String()
	if s.filters[name] != nil {
		return false, nil
	}
	bd := &binding{sub: s, f: append(Filter(nil), f...)}
	s.filters[name] = bd
	b.root.insert(bd.f, bd)
	b.stats.Filters++
	return true, nil
}

// Remove stops delivering events for f; it reports false if f was not
// added.
func (s *Subscription) Remove(f Filter) bool {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	bd := s.filters[f.String()]
	if bd == nil {
		return false
	}
	s.removeLocked(bd)
	return true
}

// Len returns how many filters the subscription has.
func (s *Subscription) Len() int {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	return len(s.filters)
}

// Close ends the subscription with ErrUnsubscribed (if it has not ended
// already).
func (s *Subscription) Close() { s.end(ErrUnsubscribed) }

func (s *Subscription) end(cause error) {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	s.endLocked(cause)
}

func (s *Subscription) removeLocked(bd *binding) {
	delete(s.filters, bd.f.String())
	s.bus.root.remove(bd.f, bd)
	s.bus.stats.Filters--
}

// endLocked takes every filter out of the index, closes the queue and
// cancels the context with cause. It never blocks.
func (s *Subscription) endLocked(cause error) {
	if s.ended {
		return
	}
	s.ended = true
	for _, bd := range s.filters {
		s.removeLocked(bd)
	}
	b := s.bus
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		b.stats.Subscribers--
	}
	s.cancel(cause) // before close: a reader that sees the queue closed finds the cause set
	close(s.ch)
	if s.stopWatch != nil {
		s.stopWatch()
	}
}
