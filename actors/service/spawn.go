package service

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// Spawn starts a child of ctx named name, registered in the tree as kind, and
// supervised by the runtime's Strategy. producer is called again on every
// restart.
func Spawn(ctx actor.Context, rt *Runtime, name, kind string, producer actor.Producer) (*actor.PID, error) {
	parent := rt.Tree.Lookup(ctx.Self().Id)
	node, prev := rt.Tree.add(parent, paths.Child(ctx.Self().Id, name), name, kind)
	pid, err := ctx.SpawnNamed(props(rt, node, producer), name)
	if err != nil {
		rt.Tree.unadd(node, prev) // a live actor's name: its node stays
		return nil, fmt.Errorf("spawn %s/%s: %w", ctx.Self().Id, name, err)
	}
	return pid, nil
}

// SpawnRoot starts the root actor of the tree. Its failures go to guardian,
// which should be a Strategy with GiveUp set.
func SpawnRoot(rt *Runtime, name, kind string, guardian actor.SupervisorStrategy, producer actor.Producer) (*actor.PID, error) {
	node, prev := rt.Tree.add(nil, name, name, kind)
	pid, err := rt.System.Root.SpawnNamed(props(rt, node, producer).Configure(actor.WithGuardian(guardian)), name)
	if err != nil {
		rt.Tree.unadd(node, prev)
		return nil, fmt.Errorf("spawn %s: %w", name, err)
	}
	return pid, nil
}

// NodeOf returns the tree node of the actor behind ctx, or nil.
func NodeOf(ctx actor.Context, rt *Runtime) *Node { return rt.Tree.Lookup(ctx.Self().Id) }

func props(rt *Runtime, node *Node, producer actor.Producer) *actor.Props {
	mailbox := func() actor.Mailbox {
		mb := Mailbox()
		node.mailbox.Store(mb)
		return mb
	}
	return actor.PropsFromProducer(producer,
		actor.WithMailbox(mailbox),
		actor.WithSupervisor(rt.Strategy),
		actor.WithReceiverMiddleware(bookkeeping(rt, node)),
	)
}

// bookkeeping keeps node in step with the actor's lifecycle, counts the
// messages it processes, and turns InjectFailure into a panic.
func bookkeeping(rt *Runtime, node *Node) actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			switch m := env.Message.(type) {
			case *actor.Started:
				// Running once Started is handled: a parent's children exist by then.
				next(c, env)
				node.setStatus(StatusRunning)
				return
			case *actor.Restarting:
				node.setStatus(StatusRestarting)
			case *actor.Stopping:
				node.setStatus(StatusStopping)
			case *actor.Stopped:
				next(c, env)
				rt.Tree.remove(node)
				rt.Log.Debug("actor stopped", "path", node.Path)
				return
			case *messages.InjectFailure:
				node.processed.Add(1)
				panic(fmt.Sprintf("injected failure: %s", m.GetReason()))
			default:
				node.processed.Add(1)
			}
			next(c, env)
		}
	}
}
