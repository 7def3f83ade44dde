package remoting

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// ReplyPrefix starts the ids of the reply addresses Request makes.
const ReplyPrefix = "reply$"

// Request sends msg to pid and returns the future its answer completes.
// The request's sender is a reply address of its own, under an unguessable
// id (128 random bits) that only the peer the request went to learns: a
// Policy with Replies lets replies reach such addresses, and nothing else.
// (protoactor's own futures are numbered in sequence: anyone able to reach
// the endpoint could answer them.) The reply address goes away with the
// future.
func Request(system *actor.ActorSystem, pid *actor.PID, msg any, timeout time.Duration) *actor.Future {
	f := actor.NewFuture(system, timeout)
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	r := &replyProcess{system: system, future: f.PID()}
	reply, ok := system.ProcessRegistry.Add(r, ReplyPrefix+hex.EncodeToString(b))
	if !ok { // 128 random bits collided: no reply address, and no answer
		system.Root.Send(pid, msg)
		return f
	}
	r.self = reply
	// The future's outcome (its answer, or a timeout) comes back to the
	// reply address, which then goes away. (A second waiter on the future
	// would not do: it wakes only one.)
	f.PipeTo(reply)
	system.Root.RequestWithCustomSender(pid, msg, reply)
	return f
}

// replyProcess hands the first message that reaches a reply address to its
// future, and goes away.
type replyProcess struct {
	system       *actor.ActorSystem
	future, self *actor.PID
}

func (p *replyProcess) SendUserMessage(_ *actor.PID, message any) {
	p.system.ProcessRegistry.Remove(p.self)
	if proc, ok := p.system.ProcessRegistry.Get(p.future); ok {
		proc.SendUserMessage(p.future, message)
	}
}

func (p *replyProcess) SendSystemMessage(*actor.PID, any) {}

func (p *replyProcess) Stop(*actor.PID) {}

// isReply reports whether target is a reply address's id.
func isReply(target string) bool { return strings.HasPrefix(target, ReplyPrefix) }
