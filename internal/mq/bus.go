package mq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Why a subscription ended, read with context.Cause(sub.Context()).
var (
	// ErrSlow: the subscriber's queue was full when an event came; it was
	// dropped rather than slow the publisher. The error wrapping it says
	// how many events the queue holds.
	ErrSlow = errors.New("subscriber fell behind")
	// ErrUnsubscribed: the subscriber called Close.
	ErrUnsubscribed = errors.New("unsubscribed")
	// ErrClosed: the bus was closed; Publish and Subscribe refuse with it too.
	ErrClosed = errors.New("event bus closed")
)

// An Event is one published message as every subscriber receives it: the
// same *Event, shared, for all of them. Nothing may modify it; what
// subscribers send of it is encoded once for all of them with Encoded.
type Event struct {
	Key   Key
	Topic string // Key written with slashes: builds/12/finished
	Class string // who may see it, for authorization (see Change.Class); "" for anyone
	// ClassID numbers Class on this bus, from 1, the same for every event
	// of the class, so that a subscriber can keep what it decided about a
	// class in a slice rather than a map; 0 once the bus has numbered
	// MaxClassIDs classes.
	ClassID uint32
	Body    json.RawMessage // the message, compact JSON (no raw newline)
	Seq     uint64          // position in the bus's order of events, from 1

	encodings atomic.Pointer[encoded] // made so far, a list (see Encoded)
}

// Stats counts what the bus has done since it was made.
type Stats struct {
	Subscribers int    // live subscriptions
	Filters     int    // filters across them
	Published   uint64 // events accepted by Publish
	Delivered   uint64 // events queued to a subscriber
	Wakeups     uint64 // wake-ups given to subscribers that found their queue empty (Ready, or SubscribeFunc's ready)
	Dropped     uint64 // subscriptions ended with ErrSlow
}

// Bus is the event bus. The zero value is not usable; call New.
type Bus struct {
	mu     sync.Mutex
	root   node
	subs   map[*Subscription]struct{}
	seq    uint64
	closed bool
	stats  Stats
	slow   []*Subscription   // scratch of one Publish: subscribers to drop after the walk
	ids    map[string]uint32 // Event.ClassID by class
}

// MaxClassIDs bounds the classes a bus numbers (Event.ClassID), and so
// what a subscriber keeps by class number: a stream keeps a byte a class
// (eventstream), up to 4 KiB.
const MaxClassIDs = 4096

// New returns an empty, open bus.
func New() *Bus {
	return &Bus{subs: make(map[*Subscription]struct{}), ids: make(map[string]uint32)}
}

// Publish hands body, published under key, to every subscription with a
// matching filter. body must be one JSON value; Publish checks it and
// compacts it if it holds a newline (SSE frames it line by line), and
// keeps it without copying: the caller must not modify it afterwards.
// class is copied into Event.Class. Publish never blocks: a subscriber
// whose queue is full is dropped (ErrSlow). A bad key or body is refused
// with an error and nothing is published.
func (b *Bus) Publish(key Key, class string, body []byte) error {
	if err := key.Check(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	body, err := compactJSON(body)
	if err != nil {
		return fmt.Errorf("publish %s: %w", key, err)
	}
	return b.publish(key, class, body)
}

// publish is Publish once key and body are checked.
func (b *Bus) publish(key Key, class string, body []byte) error {
	ev := &Event{Key: key, Topic: key.String(), Class: class, Body: body}

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("publish %s: %w", key, ErrClosed)
	}
	b.seq++
	ev.Seq = b.seq
	ev.ClassID = b.classID(class)
	b.stats.Published++
	b.walk(&b.root, key, ev)
	for i, s := range b.slow {
		b.stats.Dropped++
		s.endLocked(fmt.Errorf("%w: its queue of %d events was full", ErrSlow, s.max))
		b.slow[i] = nil
	}
	b.slow = b.slow[:0]
	return nil
}

// classID is class's number, given at its first event (b.mu held).
func (b *Bus) classID(class string) uint32 {
	id, ok := b.ids[class]
	if !ok && len(b.ids) < MaxClassIDs {
		id = uint32(len(b.ids) + 1)
		b.ids[class] = id
	}
	return id
}

// walk queues ev to the subscriptions of the filters under n that match
// rest, the segments of the key not yet consumed.
func (b *Bus) walk(n *node, rest Key, ev *Event) {
	if len(rest) == 0 {
		for _, bd := range n.here {
			s := bd.sub
			if s.seen == ev.Seq {
				continue // another of its filters matched already
			}
			s.seen = ev.Seq
			if s.queueLocked(ev) {
				b.stats.Delivered++
			} else {
				b.slow = append(b.slow, s)
			}
		}
		return
	}
	if c := n.lit[rest[0]]; c != nil {
		b.walk(c, rest[1:], ev)
	}
	if n.any != nil {
		b.walk(n.any, rest[1:], ev)
	}
}

// compactJSON checks that body is one JSON value and returns it compacted
// if it holds a raw newline, as is otherwise.
func compactJSON(body []byte) ([]byte, error) {
	if !bytes.ContainsAny(body, "\r\n") {
		if !json.Valid(body) {
			return nil, fmt.Errorf("body is not one JSON value")
		}
		return body, nil
	}
	var out bytes.Buffer
	if err := json.Compact(&out, body); err != nil {
		return nil, fmt.Errorf("body is not one JSON value: %w", err)
	}
	return out.Bytes(), nil
}

// Subscribe starts a subscription with no filter (add them with Add),
// whose queue holds buffer events (at least 1). It ends when ctx ends
// (with ctx's cause), when it is closed, when it falls behind, or when
// the bus closes. A subscription to a closed bus is born ended.
func (b *Bus) Subscribe(ctx context.Context, buffer int) *Subscription {
	s := b.newSubscription(ctx, buffer)
	s.ready = make(chan struct{}, 1)
	s.wake = s.sendReady
	b.start(ctx, s)
	return s
}

// SubscribeFunc is Subscribe with ready called instead of a wake-up sent
// on Ready: once for the events queued after a Take found the queue
// empty, as the first of them is queued. It is called with the bus's
// lock held, by the publisher: it must be quick, must not block and must
// not call the bus. A subscriber that wakes on something of its own (a
// clock) uses it to be woken once, by that.
func (b *Bus) SubscribeFunc(ctx context.Context, buffer int, ready func()) *Subscription {
	s := b.newSubscription(ctx, buffer)
	s.wake = ready
	b.start(ctx, s)
	return s
}

func (b *Bus) newSubscription(ctx context.Context, buffer int) *Subscription {
	sctx, cancel := context.WithCancelCause(ctx)
	return &Subscription{
		bus:     b,
		ctx:     sctx,
		cancel:  cancel,
		max:     max(buffer, 1),
		asleep:  true, // nothing to take yet: the first event wakes it
		filters: make(map[string]*binding),
	}
}

// start registers s, or ends it if the bus is closed.
func (b *Bus) start(ctx context.Context, s *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		s.endLocked(ErrClosed)
		return
	}
	b.subs[s] = struct{}{}
	b.stats.Subscribers++
	s.stopWatch = context.AfterFunc(ctx, func() { s.end(context.Cause(ctx)) })
}

// Stats returns the counters as they are now.
func (b *Bus) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// Close ends every subscription with ErrClosed; Publish and Subscribe
// refuse afterwards.
func (b *Bus) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		s.endLocked(ErrClosed)
	}
}
