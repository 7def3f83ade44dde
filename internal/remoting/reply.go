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
	reply, ok := system.ProcessRegistry.Add(&replyProcess{system: system, future: f.PID()}, ReplyPrefix+hex.EncodeToString(b))
	if !ok { // 128 random bits collided: no reply address, and no answer
		system.Root.Send(pid, msg)
		return f
	}
	go func() {
		_, _ = f.Result()
		system.ProcessRegistry.Remove(reply)
	}()
	system.Root.RequestWithCustomSender(pid, msg, reply)
	return f
}

// replyProcess hands what reaches a reply address to its future.
type replyProcess struct {
	system *actor.ActorSystem
	future *actor.PID
}

func (p *replyProcess) SendUserMessage(_ *actor.PID, message any) {
	if proc, ok := p.system.ProcessRegistry.Get(p.future); ok {
		proc.SendUserMessage(p.future, message)
	}
}

func (p *replyProcess) SendSystemMessage(*actor.PID, any) {}

func (p *replyProcess) Stop(*actor.PID) {}

// isReply reports whether target is a reply address's id.
func isReply(target string) bool { return strings.HasPrefix(target, ReplyPrefix) }
