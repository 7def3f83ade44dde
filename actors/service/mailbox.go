package service

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// Mailbox returns the mailbox of every actor Spawn starts: protoactor's
// unbounded mailbox, made safe to post to while its actor is being spawned.
// An actor spawned another way under a name that others address by name (a
// test's stand-in for a builder) needs it too.
//
// protoactor's spawner registers a named actor's process before it gives
// the mailbox its handlers and posts Started (protoactor-go#198: the
// library leaves it so). A message sent to the name in between — brd asks a
// builder by name while botmaster spawns it again, once its retiring
// namesake has stopped — reached a mailbox without a dispatcher: a data
// race, and a nil dereference in the sender when it won the race. This
// mailbox holds what is posted before Started (which the spawner posts once
// the handlers are registered) and posts it just after Started: the system
// messages first, then the user messages, each in the order they were
// posted — as protoactor's mailbox takes them, system messages ahead of
// user messages (a failure's suspension, a Stop, overtakes the user
// messages still held).
func Mailbox() actor.Mailbox { return &mailbox{Mailbox: actor.Unbounded()()} }

type mailbox struct {
	actor.Mailbox
	open atomic.Bool // Started and all that was held are posted: post straight through

	mu         sync.Mutex
	systemOpen bool  // Started and the held system messages are posted: system messages go straight through
	system     []any // system messages posted before systemOpen, in order
	user       []any // user messages posted before open, in order
}

// PostUserMessage implements actor.Mailbox.
func (m *mailbox) PostUserMessage(msg any) {
	if m.open.Load() || !m.holdUser(msg) {
		m.Mailbox.PostUserMessage(msg)
	}
}

// PostSystemMessage implements actor.Mailbox.
func (m *mailbox) PostSystemMessage(msg any) {
	if m.open.Load() {
		m.Mailbox.PostSystemMessage(msg)
		return
	}
	if _, ok := msg.(*actor.Started); ok {
		m.start(msg)
		return
	}
	if !m.holdSystem(msg) {
		m.Mailbox.PostSystemMessage(msg)
	}
}

// holdUser keeps msg until the held user messages are posted; false when
// they are already.
func (m *mailbox) holdUser(msg any) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.open.Load() {
		return false
	}
	m.user = append(m.user, msg)
	return true
}

// holdSystem keeps msg until the held system messages are posted; false
// when they are already.
func (m *mailbox) holdSystem(msg any) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.systemOpen {
		return false
	}
	m.system = append(m.system, msg)
	return true
}

// start posts started, then the held system messages, then the held user
// messages (with what is held meanwhile), and opens the mailbox. It posts
// without holding mu: a dispatcher that runs the actor on the poster's
// goroutine may post to the mailbox again.
func (m *mailbox) start(started any) {
	m.Mailbox.PostSystemMessage(started)
	m.drain(&m.system, m.Mailbox.PostSystemMessage, func() { m.systemOpen = true })
	m.drain(&m.user, m.Mailbox.PostUserMessage, func() { m.open.Store(true) })
}

// drain posts what *held holds, and what is added to it meanwhile, until
// it is empty; then it calls opened with mu held.
func (m *mailbox) drain(held *[]any, post func(any), opened func()) {
	for {
		m.mu.Lock()
		msgs := *held
		*held = nil
		if len(msgs) == 0 {
			opened()
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
		for _, msg := range msgs {
			post(msg)
		}
	}
}
