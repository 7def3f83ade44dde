package remoting

import (
	"log/slog"
	"net"
	"strings"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/remote"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// SchemaPackage is the protobuf package whose messages may cross processes.
const SchemaPackage = "buildmaster.v1"

// Policy says which local actors accept which messages from other processes.
type Policy struct {
	// Targets maps a local PID id (e.g. "master") to the message types it
	// accepts from outside.
	Targets map[string][]proto.Message
	// Replies lets replies reach the reply addresses of this process's
	// requests (Request: "reply$…", unguessable); a client sets it, the
	// master does not. Nothing reaches protoactor's own futures, whose ids
	// are numbered in sequence.
	Replies bool
	// Log receives a line per dropped message, at most DropLogRate a second
	// (with a burst of DropLogBurst); the lines left out are counted in the
	// next one.
	Log *slog.Logger
	// Dropped, when set, is told the reason of each dropped message.
	Dropped func(reason string)

	// self returns the address this process's remote endpoint advertises
	// (set by Start); nil or "" while unknown. protoactor forwards a message
	// whose target names any other address to that address, so such a
	// target is dropped.
	self func() string
	// logs limits the drop lines; suppressed counts those left out.
	logs       *rate.Limiter
	suppressed *atomic.Int64
}

// Drop lines logged a second, and in a burst: enough to see an attack, too
// few for one to fill the disk. Every drop is counted by Dropped regardless.
const (
	DropLogRate  = 10
	DropLogBurst = 50
)

// Reasons a message is dropped, as counted by Policy.Dropped.
const (
	DropMalformed     = "malformed"      // an index points outside its batch
	DropSerializer    = "serializer"     // not the protobuf serializer
	DropForeignType   = "foreign_type"   // not a buildmaster.v1 message
	DropUnknownType   = "unknown_type"   // not a message this binary knows
	DropNotAccepted   = "not_accepted"   // the target does not take it from outside
	DropUndecodable   = "undecodable"    // the bytes do not decode
	DropForeignSender = "foreign_sender" // the sender is not at the peer's address
	DropForeignTarget = "foreign_target" // the target is not in this process
)

// address is the address this process's remote endpoint advertises; ""
// while unknown.
func (p *Policy) address() string {
	if p.self == nil {
		return ""
	}
	return p.self()
}

// verdict checks one envelope. It returns code "" when the envelope may be
// delivered, or one of the Drop* codes and a detail.
func (p *Policy) verdict(b *remote.MessageBatch, e *remote.MessageEnvelope, peerHost string) (target, typeName, code, detail string) {
	if e.TypeId < 0 || int(e.TypeId) >= len(b.TypeNames) {
		return "", "", DropMalformed, "type index out of range"
	}
	typeName = b.TypeNames[e.TypeId]
	if e.Target < 0 || int(e.Target) >= len(b.Targets) || b.Targets[e.Target] == nil {
		return "", typeName, DropMalformed, "target index out of range"
	}
	target = b.Targets[e.Target].GetId()
	if addr, self := b.Targets[e.Target].GetAddress(), p.address(); self == "" || addr != self {
		return target, typeName, DropForeignTarget, "target address " + addr + " is not this process's (" + self + ")"
	}
	if e.Sender < 0 || int(e.Sender) > len(b.Senders) || (e.Sender > 0 && b.Senders[e.Sender-1] == nil) {
		return target, typeName, DropMalformed, "sender index out of range"
	}
	if e.SerializerId != 0 {
		return target, typeName, DropSerializer, "only the protobuf serializer is accepted"
	}
	if !strings.HasPrefix(typeName, SchemaPackage+".") {
		return target, typeName, DropForeignType, "message type is not part of the " + SchemaPackage + " schema"
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typeName))
	if err != nil {
		return target, typeName, DropUnknownType, "unknown message type"
	}
	if !p.accepts(target, typeName) {
		return target, typeName, DropNotAccepted, "target does not accept this message from other processes"
	}
	if err := proto.Unmarshal(e.MessageData, mt.New().Interface()); err != nil {
		return target, typeName, DropUndecodable, "message does not decode: " + err.Error()
	}
	if e.Sender > 0 && !sameHost(b.Senders[e.Sender-1].GetAddress(), peerHost) {
		return target, typeName, DropForeignSender, "sender address " + b.Senders[e.Sender-1].GetAddress() + " is not the peer's"
	}
	return target, typeName, "", ""
}

func (p *Policy) accepts(target, typeName string) bool {
	if p.Replies && isReply(target) {
		return true
	}
	for _, m := range p.Targets[target] {
		if string(proto.MessageName(m)) == typeName {
			return true
		}
	}
	return false
}

// sameHost reports whether a PID address (host:port) names the peer's host.
// Loopback addresses all count as one host.
func sameHost(addr, peerHost string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" || peerHost == "" {
		return false
	}
	if host == peerHost {
		return true
	}
	a, b := net.ParseIP(host), net.ParseIP(peerHost)
	if host == "localhost" {
		a = net.IPv4(127, 0, 0, 1)
	}
	return a != nil && b != nil && (a.Equal(b) || (a.IsLoopback() && b.IsLoopback()))
}
