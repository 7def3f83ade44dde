package worker

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/messages"
)

// link is one login session: what every FromWorker of it carries and where
// it goes. It is closed when the session ends (master lost, worker
// stopping); a closed link sends nothing, so a command that outlives its
// session never talks to the next one.
type link struct {
	session   string // secret: never logged
	keepalive time.Duration
	master    *actor.PID // master/pbmanager
	root      *actor.RootContext
	mu        sync.RWMutex // send holds it shared, close exclusively
	closed    bool
}

// send sends one FromWorker of this session; false when the link is
// closed. Messages one goroutine sends arrive in the order sent.
func (l *link) send(m *messages.FromWorker) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return false
	}
	m.Session = l.session
	l.root.Send(l.master, m)
	return true
}

// update sends a CommandUpdate.
func (l *link) update(u *messages.CommandUpdate) bool {
	return l.send(&messages.FromWorker{Kind: &messages.FromWorker_Update{Update: u}})
}

func (l *link) sendKeepalive() bool {
	return l.send(&messages.FromWorker{Kind: &messages.FromWorker_Keepalive{Keepalive: &messages.Keepalive{}}})
}

// close ends the link; once it returns, nothing more is sent on it.
func (l *link) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}
