package remoting

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/buildmaster/buildmaster/messages"
)

// testSelf is the address the test policies pretend to listen on.
const testSelf = "127.0.0.1:9989"

// testPolicy is a master-like policy: "master" takes the two control
// requests from outside, and nothing else is reachable.
func testPolicy(log *slog.Logger) *Policy {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Policy{
		Targets: map[string][]proto.Message{"master": {&messages.ReconfigureRequest{}, &messages.GetTreeRequest{}}},
		Log:     log,
		self:    func() string { return testSelf },
	}
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goodBatch is a batch with one envelope the test policy lets through: a
// GetTreeRequest for "master", from a sender on the loopback host.
func goodBatch(t testing.TB) (*remote.MessageBatch, *remote.MessageEnvelope) {
	e := &remote.MessageEnvelope{
		TypeId:      0,
		MessageData: mustMarshal(t, &messages.GetTreeRequest{Token: "tok"}),
		Target:      0,
		Sender:      1,
	}
	b := &remote.MessageBatch{
		TypeNames: []string{"buildmaster.v1.GetTreeRequest"},
		Targets:   []*actor.PID{actor.NewPID(testSelf, "master")},
		Senders:   []*actor.PID{actor.NewPID("127.0.0.1:40000", "client")},
		Envelopes: []*remote.MessageEnvelope{e},
	}
	return b, e
}

func TestVerdict(t *testing.T) {
	garbage := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	badUTF8 := []byte{0x0a, 0x02, 0xff, 0xfe} // field 1 (token, a string) = invalid UTF-8
	cases := []struct {
		name     string
		peerHost string // default 127.0.0.1
		policy   func(*Policy)
		edit     func(*remote.MessageBatch, *remote.MessageEnvelope)
		want     string
	}{
		{name: "valid request", want: ""},
		{name: "valid request without a sender", edit: func(_ *remote.MessageBatch, e *remote.MessageEnvelope) { e.Sender = 0 }},
		{name: "valid request, request ids set", edit: func(_ *remote.MessageBatch, e *remote.MessageEnvelope) {
			e.TargetRequestId, e.SenderRequestId = 7, 9
		}},
		{name: "valid reconfigure request", edit: func(b *remote.MessageBatch, e *remote.MessageEnvelope) {
			b.TypeNames[0] = "buildmaster.v1.ReconfigureRequest"
			e.MessageData = mustMarshal(t, &messages.ReconfigureRequest{Token: "tok", DryRun: true})
		}},
		{name: "empty message data decodes", edit: func(_ *remote.MessageBatch, e *remote.MessageEnvelope) { e.MessageData = nil }},
		{name: "sender named localhost", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Senders[0].Address = "localhost:40000"
		}},
		{name: "sender on another loopback address", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Senders[0].Address = "127.0.0.2:40000"
		}},
		{name: "sender on IPv6 loopback", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Senders[0].Address = "[::1]:40000"
		}},
		{name: "sender at a remote peer's own address", peerHost: "10.0.0.5", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Senders[0].Address = "10.0.0.5:7000"
		}},

		{name: "no type names", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) { b.TypeNames = nil }, want: DropMalformed},
		{name: "type index negative", edit: func(_ *remote.MessageBatch, e *remote.MessageEnvelope) { e.TypeId = -1 }, want: DropMalformed},
		{name: "type index past the end", edit: func(_ *remote.MessageBatch, e *remote.MessageEnvelope) { e.TypeId = 1 }, want: DropMalformed},
		{name: "type index huge", edit: func(_ *remote.MessageBatch, e *remote.MessageEnvelope) { e.TypeId = 1 << 30 }, want: DropMalformed},
		{name: "no targets", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) { b.Targets = nil }, want: DropMalformed},
		{name: "target index negative", edit: func(_ *remote.MessageBatch, e *remote.MessageEnvelope) { e.Target = -1 }, want: DropMalformed},
		{name: "target index past the end", edit: func(_ *remote.MessageBatch, e *remote.MessageEnvelope) { e.Target = 1 }, want: DropMalformed},
		{name: "nil target", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) { b.Targets[0] = nil }, want: DropMalformed},
		{name: "sender index negative", edit: func(_ *remote.MessageBatch, e *remote.MessageEnvelope) { e.Sender = -1 }, want: DropMalformed},
		{name: "sender index past the end", edit: func(_ *remote.MessageBatch, e *remote.MessageEnvelope) { e.Sender = 2 }, want: DropMalformed},
		{name: "sender index with no senders", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) { b.Senders = nil }, want: DropMalformed},
		{name: "nil sender", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) { b.Senders[0] = nil }, want: DropMalformed},

		{name: "target at another host", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Targets[0].Address = "192.0.2.10:9989"
		}, want: DropForeignTarget},
		{name: "target at another local port", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Targets[0].Address = "127.0.0.1:9990"
		}, want: DropForeignTarget},
		{name: "target without an address", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Targets[0].Address = ""
		}, want: DropForeignTarget},
		{name: "target at protoactor's nonhost", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Targets[0].Address = "nonhost"
		}, want: DropForeignTarget},
		{name: "policy not started: own address unknown", policy: func(p *Policy) { p.self = nil }, want: DropForeignTarget},

		{name: "JSON serializer", edit: func(_ *remote.MessageBatch, e *remote.MessageEnvelope) {
			e.SerializerId, e.MessageData = 1, []byte(`{"token":"tok"}`)
		}, want: DropSerializer},
		{name: "serializer 99", edit: func(_ *remote.MessageBatch, e *remote.MessageEnvelope) { e.SerializerId = 99 }, want: DropSerializer},
		{name: "serializer negative", edit: func(_ *remote.MessageBatch, e *remote.MessageEnvelope) { e.SerializerId = -1 }, want: DropSerializer},

		{name: "foreign type foo.Bar", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) { b.TypeNames[0] = "foo.Bar" }, want: DropForeignType},
		{name: "empty type name", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) { b.TypeNames[0] = "" }, want: DropForeignType},
		{name: "schema package without a message", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) { b.TypeNames[0] = "buildmaster.v1" }, want: DropForeignType},
		{name: "look-alike package", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.TypeNames[0] = "buildmaster.v1x.GetTreeRequest"
		}, want: DropForeignType},
		{name: "protoactor PoisonPill", edit: func(b *remote.MessageBatch, e *remote.MessageEnvelope) {
			b.TypeNames[0], e.MessageData = "actor.PoisonPill", mustMarshal(t, &actor.PoisonPill{})
		}, want: DropForeignType},
		{name: "protoactor Stop", edit: func(b *remote.MessageBatch, e *remote.MessageEnvelope) {
			b.TypeNames[0], e.MessageData = "actor.Stop", mustMarshal(t, &actor.Stop{})
		}, want: DropForeignType},
		{name: "protoactor Watch", edit: func(b *remote.MessageBatch, e *remote.MessageEnvelope) {
			b.TypeNames[0], e.MessageData = "actor.Watch", mustMarshal(t, &actor.Watch{Watcher: actor.NewPID("127.0.0.1:40000", "x")})
		}, want: DropForeignType},
		{name: "protoactor Terminated", edit: func(b *remote.MessageBatch, e *remote.MessageEnvelope) {
			b.TypeNames[0], e.MessageData = "actor.Terminated", mustMarshal(t, &actor.Terminated{Who: actor.NewPID(testSelf, "master")})
		}, want: DropForeignType},
		{name: "a well-known protobuf type", edit: func(b *remote.MessageBatch, e *remote.MessageEnvelope) {
			b.TypeNames[0], e.MessageData = "google.protobuf.Empty", nil
		}, want: DropForeignType},

		{name: "unknown schema type", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.TypeNames[0] = "buildmaster.v1.NoSuchThing"
		}, want: DropUnknownType},
		{name: "schema package and a dot only", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.TypeNames[0] = "buildmaster.v1."
		}, want: DropUnknownType},

		{name: "known type the target does not take", edit: func(b *remote.MessageBatch, e *remote.MessageEnvelope) {
			b.TypeNames[0], e.MessageData = "buildmaster.v1.InjectFailure", mustMarshal(t, &messages.InjectFailure{Reason: "x"})
		}, want: DropNotAccepted},
		{name: "valid request to an internal actor", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Targets[0].Id = "master/botmaster"
		}, want: DropNotAccepted},
		{name: "target id with a trailing slash", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Targets[0].Id = "master/"
		}, want: DropNotAccepted},
		{name: "reply target without Replies", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Targets[0].Id = "reply$abc"
		}, want: DropNotAccepted},
		{name: "reply target with Replies", policy: func(p *Policy) { p.Replies = true }, edit: func(b *remote.MessageBatch, e *remote.MessageEnvelope) {
			b.Targets[0].Id = "reply$abc"
			b.TypeNames[0], e.MessageData = "buildmaster.v1.ControlError", mustMarshal(t, &messages.ControlError{Message: "no"})
		}},
		{name: "reply target with Replies, unknown type", policy: func(p *Policy) { p.Replies = true }, edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Targets[0].Id = "reply$abc"
			b.TypeNames[0] = "buildmaster.v1.NoSuchThing"
		}, want: DropUnknownType},
		{name: "protoactor future target with Replies", policy: func(p *Policy) { p.Replies = true }, edit: func(b *remote.MessageBatch, e *remote.MessageEnvelope) {
			b.Targets[0].Id = "future$1"
			b.TypeNames[0], e.MessageData = "buildmaster.v1.ControlError", mustMarshal(t, &messages.ControlError{Message: "forged"})
		}, want: DropNotAccepted},

		{name: "garbage message data", edit: func(_ *remote.MessageBatch, e *remote.MessageEnvelope) { e.MessageData = garbage }, want: DropUndecodable},
		{name: "invalid UTF-8 in a string field", edit: func(_ *remote.MessageBatch, e *remote.MessageEnvelope) { e.MessageData = badUTF8 }, want: DropUndecodable},

		{name: "sender at another host", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Senders[0].Address = "192.0.2.10:1234"
		}, want: DropForeignSender},
		{name: "sender without an address", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Senders[0].Address = ""
		}, want: DropForeignSender},
		{name: "sender without a port", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Senders[0].Address = "127.0.0.1"
		}, want: DropForeignSender},
		{name: "sender at protoactor's nonhost", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Senders[0].Address = "nonhost"
		}, want: DropForeignSender},
		{name: "sender named by a host name", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Senders[0].Address = "example.com:1234"
		}, want: DropForeignSender},
		{name: "remote peer claims a loopback sender", peerHost: "10.0.0.5", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Senders[0].Address = "127.0.0.1:40000"
		}, want: DropForeignSender},
		{name: "remote peer claims localhost", peerHost: "10.0.0.5", edit: func(b *remote.MessageBatch, _ *remote.MessageEnvelope) {
			b.Senders[0].Address = "localhost:40000"
		}, want: DropForeignSender},
		{name: "peer address unknown", peerHost: "-", want: DropForeignSender},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := testPolicy(nil)
			if c.policy != nil {
				c.policy(p)
			}
			b, e := goodBatch(t)
			if c.edit != nil {
				c.edit(b, e)
			}
			host := c.peerHost
			switch host {
			case "":
				host = "127.0.0.1"
			case "-":
				host = ""
			}
			_, _, code, detail := p.verdict(b, e, host)
			if code != c.want {
				t.Fatalf("verdict = %q (%s), want %q", code, detail, c.want)
			}
			if (code == "") != (detail == "") {
				t.Fatalf("code %q with detail %q", code, detail)
			}
			if code == "" && !safeForEndpointReader(b, e, p, host) {
				t.Fatalf("verdict let through an envelope the library's reader cannot take")
			}
		})
	}
}

// safeForEndpointReader checks, independently of verdict, that protoactor's
// endpoint reader can take e without panicking, without forwarding it to
// another process, and without delivering anything the policy does not name.
func safeForEndpointReader(b *remote.MessageBatch, e *remote.MessageEnvelope, p *Policy, peerHost string) bool {
	if e == nil || e.TypeId < 0 || int(e.TypeId) >= len(b.TypeNames) ||
		e.Target < 0 || int(e.Target) >= len(b.Targets) || b.Targets[e.Target] == nil ||
		e.Sender < 0 || int(e.Sender) > len(b.Senders) || (e.Sender > 0 && b.Senders[e.Sender-1] == nil) ||
		e.SerializerId != 0 {
		return false
	}
	target := b.Targets[e.Target]
	if target.Address != p.address() || p.address() == "" {
		return false
	}
	if e.Sender > 0 {
		host, _, err := net.SplitHostPort(b.Senders[e.Sender-1].Address)
		if err != nil {
			return false
		}
		ip, peer := net.ParseIP(host), net.ParseIP(peerHost)
		if host == "localhost" {
			ip = net.IPv4(127, 0, 0, 1)
		}
		if ip == nil || peer == nil || !(ip.Equal(peer) || ip.IsLoopback() && peer.IsLoopback()) {
			return false
		}
	}
	typeName := b.TypeNames[e.TypeId]
	if _, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typeName)); err != nil {
		return false
	}
	accepted := p.Replies && strings.HasPrefix(target.Id, ReplyPrefix)
	for _, m := range p.Targets[target.Id] {
		accepted = accepted || string(proto.MessageName(m)) == typeName
	}
	if !accepted {
		return false
	}
	// What the reader itself does with it.
	msg, err := remote.Deserialize(e.MessageData, typeName, e.SerializerId)
	if err != nil {
		return false
	}
	switch msg.(type) {
	case actor.SystemMessage, *actor.Terminated, *actor.PoisonPill, remote.RootSerialized:
		return false
	}
	pm, ok := msg.(proto.Message)
	return ok && strings.HasPrefix(string(proto.MessageName(pm)), SchemaPackage+".")
}

// fakeStream hands out prepared messages, the way gRPC would after decoding.
type fakeStream struct {
	grpc.ServerStream // nil: only the methods below are called
	ctx               context.Context
	msgs              []*remote.RemoteMessage
	err               error
}

func (f *fakeStream) Context() context.Context { return f.ctx }

func (f *fakeStream) RecvMsg(m any) error {
	if len(f.msgs) == 0 {
		if f.err != nil {
			return f.err
		}
		return io.EOF
	}
	next := f.msgs[0]
	f.msgs = f.msgs[1:]
	m.(*remote.RemoteMessage).MessageType = next.MessageType
	return nil
}

// recorder collects what a policy logs and counts.
type recorder struct {
	mu      sync.Mutex
	log     bytes.Buffer
	dropped []string
}

func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.Write(b)
}

func (r *recorder) policy() *Policy {
	p := testPolicy(slog.New(slog.NewTextHandler(r, nil)))
	p.Dropped = func(reason string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.dropped = append(r.dropped, reason)
	}
	return p
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}

func batchMessage(b *remote.MessageBatch) *remote.RemoteMessage {
	return &remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: b}}
}

func TestGuardedStreamFiltersABatch(t *testing.T) {
	rec := &recorder{}
	b, good := goodBatch(t)
	inject := &remote.MessageEnvelope{TypeId: 1, Target: 1, MessageData: mustMarshal(t, &messages.InjectFailure{Reason: "x"})}
	unknown := &remote.MessageEnvelope{TypeId: 2, Target: 0}
	outOfRange := &remote.MessageEnvelope{TypeId: 0, Target: 7}
	json := &remote.MessageEnvelope{TypeId: 0, Target: 0, SerializerId: 1, MessageData: []byte(`{}`)}
	second := &remote.MessageEnvelope{TypeId: 0, Target: 0, MessageData: mustMarshal(t, &messages.GetTreeRequest{Token: "again"})}
	b.TypeNames = append(b.TypeNames, "buildmaster.v1.InjectFailure", "foo.Bar")
	b.Targets = append(b.Targets, actor.NewPID(testSelf, "master/botmaster"))
	b.Envelopes = []*remote.MessageEnvelope{good, inject, nil, unknown, outOfRange, json, second}

	s := &guardedStream{ServerStream: &fakeStream{ctx: context.Background(), msgs: []*remote.RemoteMessage{batchMessage(b)}},
		policy: rec.policy(), peerAddr: "127.0.0.1:5555", peerHost: "127.0.0.1"}
	got := &remote.RemoteMessage{}
	if err := s.RecvMsg(got); err != nil {
		t.Fatal(err)
	}
	kept := got.GetMessageBatch().GetEnvelopes()
	if len(kept) != 2 || kept[0] != good || kept[1] != second {
		t.Fatalf("kept %v, want the two valid envelopes in order", kept)
	}
	want := []string{DropNotAccepted, DropForeignType, DropMalformed, DropSerializer}
	if strings.Join(rec.dropped, ",") != strings.Join(want, ",") {
		t.Fatalf("dropped %v, want %v", rec.dropped, want)
	}
	log := rec.String()
	for _, w := range []string{
		`msg="remote: dropped a message from another process" peer=127.0.0.1:5555 target=master/botmaster type=buildmaster.v1.InjectFailure reason="target does not accept this message from other processes"`,
		`target=master type=foo.Bar reason="message type is not part of the buildmaster.v1 schema"`,
		`reason="target index out of range"`,
		`reason="only the protobuf serializer is accepted"`,
	} {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %s:\n%s", w, log)
		}
	}
	if strings.Count(log, "dropped a message") != 4 {
		t.Errorf("want 4 drop lines (the nil envelope is skipped silently):\n%s", log)
	}
	if strings.Contains(log, "tok") || strings.Contains(log, "again") {
		t.Errorf("a message's content reached the log:\n%s", log)
	}
}

func TestGuardedStreamAllDropped(t *testing.T) {
	rec := &recorder{}
	b, e := goodBatch(t)
	e.TypeId = 9
	s := &guardedStream{ServerStream: &fakeStream{ctx: context.Background(), msgs: []*remote.RemoteMessage{batchMessage(b)}},
		policy: rec.policy(), peerHost: "127.0.0.1"}
	got := &remote.RemoteMessage{}
	if err := s.RecvMsg(got); err != nil {
		t.Fatal(err)
	}
	if n := len(got.GetMessageBatch().GetEnvelopes()); n != 0 {
		t.Fatalf("kept %d envelopes", n)
	}
}

func TestGuardedStreamPassesOtherMessages(t *testing.T) {
	rec := &recorder{}
	connect := &remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "x", Address: "192.0.2.1:1"}}}}}
	disconnect := &remote.RemoteMessage{MessageType: &remote.RemoteMessage_DisconnectRequest{DisconnectRequest: &remote.DisconnectRequest{}}}
	empty := &remote.RemoteMessage{}
	emptyBatch := batchMessage(&remote.MessageBatch{})
	boom := errors.New("stream broke")
	s := &guardedStream{ServerStream: &fakeStream{ctx: context.Background(), msgs: []*remote.RemoteMessage{connect, disconnect, empty, emptyBatch}, err: boom},
		policy: rec.policy(), peerHost: "127.0.0.1"}
	for _, want := range []*remote.RemoteMessage{connect, disconnect, empty, emptyBatch} {
		got := &remote.RemoteMessage{}
		if err := s.RecvMsg(got); err != nil {
			t.Fatal(err)
		}
		if got.MessageType != want.MessageType {
			t.Fatalf("got %v, want %v unchanged", got, want)
		}
	}
	if err := s.RecvMsg(&remote.RemoteMessage{}); !errors.Is(err, boom) {
		t.Fatalf("stream error = %v, want %v", err, boom)
	}
	if len(rec.dropped) != 0 {
		t.Fatalf("dropped %v", rec.dropped)
	}
}

func TestStreamInterceptorRecoversAndWraps(t *testing.T) {
	rec := &recorder{}
	p := rec.policy()
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4242}})
	b, e := goodBatch(t)
	e.TypeId = 5 // would panic the library's reader: m.TypeNames[5]
	ss := &fakeStream{ctx: ctx, msgs: []*remote.RemoteMessage{batchMessage(b)}}

	var sawHost string
	err := p.streamInterceptor(nil, ss, &grpc.StreamServerInfo{FullMethod: "/remote.Remoting/Receive"}, func(_ any, s grpc.ServerStream) error {
		gs, ok := s.(*guardedStream)
		if !ok {
			t.Fatalf("handler got %T, want the guarded stream", s)
		}
		sawHost = gs.peerHost
		m := &remote.RemoteMessage{}
		if err := s.RecvMsg(m); err != nil {
			return err
		}
		if n := len(m.GetMessageBatch().GetEnvelopes()); n != 0 {
			t.Errorf("handler saw %d envelopes", n)
		}
		panic("the library broke")
	})
	if status.Code(err) != codes.Internal {
		t.Fatalf("err = %v, want Internal", err)
	}
	if sawHost != "127.0.0.1" {
		t.Fatalf("peer host = %q", sawHost)
	}
	log := rec.String()
	if !strings.Contains(log, "recovered from a panic") || !strings.Contains(log, "peer=127.0.0.1:4242") ||
		!strings.Contains(log, `panic="the library broke"`) || !strings.Contains(log, `reason="type index out of range"`) {
		t.Fatalf("log:\n%s", log)
	}

	// No peer in the context: every sender is foreign, nothing panics.
	ss = &fakeStream{ctx: context.Background(), msgs: []*remote.RemoteMessage{batchMessage(func() *remote.MessageBatch { b, _ := goodBatch(t); return b }())}}
	err = p.streamInterceptor(nil, ss, &grpc.StreamServerInfo{}, func(_ any, s grpc.ServerStream) error {
		m := &remote.RemoteMessage{}
		if err := s.RecvMsg(m); err != nil {
			return err
		}
		if n := len(m.GetMessageBatch().GetEnvelopes()); n != 0 {
			t.Errorf("kept %d envelopes from an unknown peer", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.String(), "peer=unknown") {
		t.Fatalf("log:\n%s", rec.String())
	}
}

func TestRefuseUnary(t *testing.T) {
	for _, method := range []string{"/remote.Remoting/ListProcesses", "/remote.Remoting/GetProcessDiagnostics"} {
		called := false
		res, err := refuseUnary(context.Background(), &remote.ListProcessesRequest{}, &grpc.UnaryServerInfo{FullMethod: method},
			func(context.Context, any) (any, error) { called = true; panic("implement me") })
		if called || res != nil || status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), method) {
			t.Fatalf("%s: called=%v res=%v err=%v", method, called, res, err)
		}
	}
	p := testPolicy(nil)
	if n := len(p.ServerOptions()); n != 2 {
		t.Fatalf("ServerOptions = %d options, want the stream and the unary interceptor", n)
	}
}

func TestSameHost(t *testing.T) {
	for _, c := range []struct {
		addr, peer string
		want       bool
	}{
		{"127.0.0.1:1", "127.0.0.1", true},
		{"localhost:1", "127.0.0.1", true},
		{"localhost:1", "::1", true},
		{"[::1]:1", "127.0.0.1", true},
		{"10.0.0.5:1", "10.0.0.5", true},
		{"[2001:db8::1]:1", "2001:db8::1", true},
		{"10.0.0.5:1", "10.0.0.6", false},
		{"127.0.0.1:1", "10.0.0.5", false},
		{"localhost:1", "10.0.0.5", false},
		{"10.0.0.5:1", "127.0.0.1", false},
		{"example.com:1", "127.0.0.1", false},
		{"127.0.0.1", "127.0.0.1", false},
		{"", "127.0.0.1", false},
		{"127.0.0.1:1", "", false},
		{":1", "", false},
	} {
		if got := sameHost(c.addr, c.peer); got != c.want {
			t.Errorf("sameHost(%q, %q) = %v, want %v", c.addr, c.peer, got, c.want)
		}
	}
}
