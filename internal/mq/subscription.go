package mq

import (
	"context"
	"fmt"
	"sync"
)

// A Subscription is one subscriber's queue and filters. Its methods are
// safe for concurrent use.
//
// The queue is a slice the publisher appends to under a lock of the
// subscription's own, not a channel: an event costs the publisher an
// append per matching subscriber, and a subscriber that takes its events
// in batches (Take) is woken (Ready) at most once per batch, only when it
// has found its queue empty.
type Subscription struct {
	bus       *Bus
	ctx       context.Context
	cancel    context.CancelCauseFunc
	stopWatch func() bool   // stops the watch on the parent context
	ready     chan struct{} // holds a wake-up at most (Ready); nil with SubscribeFunc
	wake      func()        // sends the wake-up (bus.mu and mu held)
	max       int           // events the queue holds at most

	mu     sync.Mutex // guards queue and asleep; taken under bus.mu, never the other way
	queue  []*Event
	asleep bool // the last Take found the queue empty: the next event wakes the subscriber

	// Guarded by bus.mu.
	filters map[string]*binding // by Filter.String()
	seen    uint64              // Seq of the last event queued
	ended   bool
}

// Take returns the events queued since the last Take, each once, in
// publication order, and gives the subscription buf's room (from
// buf[:0]) for the next ones: the caller must not use buf afterwards,
// and may hand the slice it got back to the next Take. When the queue is
// empty Take returns buf[:0], and Ready receives once the next event is
// queued. Events queued before the subscription ended can still be taken.
func (s *Subscription) Take(buf []*Event) []*Event {
	s.mu.Lock()
	evs := s.queue
	if len(evs) == 0 {
		s.asleep = true
		s.mu.Unlock()
		return buf[:0]
	}
	s.queue = buf[:0]
	select {
	case <-s.ready: // the wake-up for these events, not received: spent
	default:
	}
	s.mu.Unlock()
	return evs
}

// Ready receives a wake-up when an event is queued after a Take found
// the queue empty: one for all the events queued until the next Take,
// none for those queued while the subscriber has not yet found its queue
// empty again. A wake-up not received by the next Take is spent by it:
// a wake-up always comes with events to take. It is nil for a
// subscription made by SubscribeFunc.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// sendReady is the wake of a subscription made by Subscribe. It never
// blocks: a wake-up is sent only to an empty queue, and Take spends it.
func (s *Subscription) sendReady() { s.ready <- struct{}{} }

// queueLocked appends ev (bus.mu held); it reports false, queuing
// nothing, when the queue is full.
func (s *Subscription) queueLocked(ev *Event) bool {
	s.mu.Lock()
	if len(s.queue) >= s.max {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, ev)
	if s.asleep {
		s.asleep = false
		s.wake()
		s.bus.stats.Wakeups++
	}
	s.mu.Unlock()
	return true
}

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

// endLocked takes every filter out of the index and cancels the context
// with cause. It never blocks.
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
	s.cancel(cause)
	if s.stopWatch != nil {
		s.stopWatch()
	}
}
