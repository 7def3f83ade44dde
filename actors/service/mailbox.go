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
// the handlers are registered) and posts it just after Started, in order:
// the actor takes Started first, and each sender's messages in the order
// it sent them.
func Mailbox() actor.Mailbox { return &mailbox{Mailbox: actor.Unbounded()()} }

type mailbox struct {
	actor.Mailbox
	open atomic.Bool // Started is posted: post straight through

	mu   sync.Mutex
	held []heldMessage // posted before Started, in order
}

type heldMessage struct {
	msg    any
	system bool
}

// PostUserMessage implements actor.Mailbox.
func (m *mailbox) PostUserMessage(msg any) {
	if m.open.Load() || !m.hold(msg, false) {
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
	if !m.hold(msg, true) {
		m.Mailbox.PostSystemMessage(msg)
	}
}

// hold keeps msg until Started is posted; false when it is already.
func (m *mailbox) hold(msg any, system bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.open.Load() {
		return false
	}
	m.held = append(m.held, heldMessage{msg: msg, system: system})
	return true
}

// start posts started, then what was held (and what is held meanwhile),
// and opens the mailbox. It posts without holding mu: a dispatcher that
// runs the actor on the poster's goroutine may post to the mailbox again.
func (m *mailbox) start(started any) {
	m.Mailbox.PostSystemMessage(started)
	for {
		m.mu.Lock()
		held := m.held
		m.held = nil
		if len(held) == 0 {
			m.open.Store(true)
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
		for _, h := range held {
			if h.system {
				m.Mailbox.PostSystemMessage(h.msg)
			} else {
				m.Mailbox.PostUserMessage(h.msg)
			}
		}
	}
}
