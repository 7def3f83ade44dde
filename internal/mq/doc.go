// Package mq owns the master's one in-process event bus, Buildbot's mq:
// every committed state change is published once, under each of the
// routing keys Buildbot emits for it, and handed to the subscribers whose
// filters match. The web UI, the /ws and /sse streams and the reporters
// subscribe to it.
//
// A routing key is a tuple of segments ("builds", "12", "finished"),
// written with slashes (builds/12/finished). A filter has the same number
// of segments, "*" matching any one segment (Buildbot's None); a filter
// never matches a key of another length. [Keys] and [Bus.PublishChange]
// produce every key Buildbot emits for a state change (see routing.go).
//
// The bus accepts two kinds of calls:
//
//   - Publish: a key and the message already encoded as JSON. The body is
//     encoded once and shared by every subscriber (an [Event]), and so is
//     what subscribers make of it ([Event.Encoded]); Publish never blocks
//     and starts no goroutine: it puts the event into each matching
//     subscriber's bounded queue, and a subscriber whose queue is full is
//     dropped at once (its [Subscription] ends with [ErrSlow]).
//     The publisher's cost is independent of how slow a subscriber is and
//     of how many subscribers do not match: subscriptions are indexed in a
//     trie over the filters' segments.
//   - Subscribe, then Add and Remove filters on the [Subscription]; Take
//     returns the matching events queued since the last Take, each once
//     (even if several of its filters match), in publication order, and
//     Ready wakes a subscriber that found its queue empty when the next
//     event comes: once for all the events queued until it takes them, so
//     that a subscriber that takes its events in batches costs the
//     publisher an append per event and one wake-up per batch at most.
//     Its Context ends when the subscription ends; context.Cause says why.
//
// Publish, Subscribe, Add, Remove and Close are serialised by one mutex,
// so every subscriber sees the same total order of events; a subscription's
// queue has a lock of its own, so that Take never waits for a publication
// to reach the other subscribers. [Bus.Stats] counts subscribers, filters,
// published, delivered and dropped events and wake-ups, for the metrics
// service.
package mq
