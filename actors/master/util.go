package master

import (
	"sort"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// supervision is the master's own part of the config.
func supervision(c *messages.MasterConfig) proto.Message { return c.GetSupervision() }

// respond answers the current message's sender, if it has one.
func respond(ctx actor.Context, msg proto.Message) { send(ctx, ctx.Sender(), msg) }

func send(ctx actor.Context, to *actor.PID, msg proto.Message) {
	if to != nil {
		ctx.Send(to, msg)
	}
}

func typeName(m any) string {
	if pm, ok := m.(proto.Message); ok {
		return string(proto.MessageName(pm))
	}
	return "unknown"
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
