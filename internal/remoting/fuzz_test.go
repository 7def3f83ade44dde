package remoting

import (
	"context"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// fuzzSeeds are batches near the edges the guard checks; the committed
// corpus in testdata/fuzz/FuzzGuardedBatch holds the same and more.
func fuzzSeeds(t testing.TB) []*remote.RemoteMessage {
	self := actor.NewPID(testSelf, "master")
	tree := mustMarshal(t, &messages.GetTreeRequest{Token: "tok"})
	reconf := mustMarshal(t, &messages.ReconfigureRequest{Token: "tok", DryRun: true, ConfigName: "x.yaml", ConfigYaml: []byte("workers: []\n")})
	b := func(types []string, targets, senders []*actor.PID, envs ...*remote.MessageEnvelope) *remote.RemoteMessage {
		return batchMessage(&remote.MessageBatch{TypeNames: types, Targets: targets, Senders: senders, Envelopes: envs})
	}
	loopSender := []*actor.PID{actor.NewPID("127.0.0.1:40000", "client")}
	return []*remote.RemoteMessage{
		b([]string{"buildmaster.v1.GetTreeRequest"}, []*actor.PID{self}, loopSender, &remote.MessageEnvelope{MessageData: tree, Sender: 1}),
		b([]string{"buildmaster.v1.GetTreeRequest", "buildmaster.v1.ReconfigureRequest"}, []*actor.PID{self}, nil,
			&remote.MessageEnvelope{MessageData: tree}, &remote.MessageEnvelope{TypeId: 1, MessageData: reconf, TargetRequestId: 3}),
		b([]string{"buildmaster.v1.NoSuchThing", "foo.Bar"}, []*actor.PID{self}, nil,
			&remote.MessageEnvelope{MessageData: []byte{1, 2, 3}}, &remote.MessageEnvelope{TypeId: 1}),
		b([]string{"buildmaster.v1.GetTreeRequest"}, []*actor.PID{self}, nil,
			&remote.MessageEnvelope{MessageData: []byte{0xff, 0xff, 0xff}}, &remote.MessageEnvelope{TypeId: 5, Target: 7, Sender: 9}),
		b([]string{"buildmaster.v1.GetTreeRequest"}, []*actor.PID{self}, loopSender,
			&remote.MessageEnvelope{TypeId: -1}, &remote.MessageEnvelope{Target: -1}, &remote.MessageEnvelope{Sender: -1}, &remote.MessageEnvelope{Sender: 2}),
		b([]string{"buildmaster.v1.GetTreeRequest"}, []*actor.PID{{}}, nil, &remote.MessageEnvelope{MessageData: tree}),
		b([]string{"buildmaster.v1.GetTreeRequest"}, []*actor.PID{self}, nil,
			&remote.MessageEnvelope{SerializerId: 1, MessageData: []byte(`{"token":"tok"}`)}, &remote.MessageEnvelope{SerializerId: 99, MessageData: tree}),
		b([]string{"actor.PoisonPill", "actor.Stop", "actor.Watch", "actor.Terminated"}, []*actor.PID{self}, nil,
			&remote.MessageEnvelope{}, &remote.MessageEnvelope{TypeId: 1}, &remote.MessageEnvelope{TypeId: 2}, &remote.MessageEnvelope{TypeId: 3}),
		b([]string{"buildmaster.v1.InjectFailure", "buildmaster.v1.GetTreeRequest"},
			[]*actor.PID{self, actor.NewPID(testSelf, "master/botmaster"), actor.NewPID(testSelf, "future$abc")}, nil,
			&remote.MessageEnvelope{MessageData: mustMarshal(t, &messages.InjectFailure{Reason: "x"})},
			&remote.MessageEnvelope{TypeId: 1, Target: 1, MessageData: tree},
			&remote.MessageEnvelope{TypeId: 1, Target: 2, MessageData: tree}),
		b([]string{"buildmaster.v1.GetTreeRequest"}, []*actor.PID{self, actor.NewPID("192.0.2.10:9989", "master")},
			[]*actor.PID{actor.NewPID("192.0.2.10:1234", "x"), actor.NewPID("localhost:1", "y")},
			&remote.MessageEnvelope{MessageData: tree, Sender: 1}, &remote.MessageEnvelope{MessageData: tree, Sender: 2},
			&remote.MessageEnvelope{MessageData: tree, Target: 1}),
		b(nil, nil, nil),
		b(nil, nil, nil, &remote.MessageEnvelope{}),
		{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
			ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "x", Address: "127.0.0.1:1"}}}}},
	}
}

// FuzzGuardedBatch decodes arbitrary bytes as a RemoteMessage, the way gRPC
// would, runs the guard over it, and checks that it never panics and that
// every envelope it keeps is one protoactor's endpoint reader can take
// safely (see safeForEndpointReader).
func FuzzGuardedBatch(f *testing.F) {
	for _, m := range fuzzSeeds(f) {
		f.Add(mustMarshal(f, m))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &remote.RemoteMessage{}
		if err := proto.Unmarshal(data, in); err != nil {
			return
		}
		var before []*remote.MessageEnvelope
		if b := in.GetMessageBatch(); b != nil {
			before = append(before, b.Envelopes...)
		}
		p := testPolicy(nil)
		p.Replies = true
		drops := 0
		p.Dropped = func(string) { drops++ }
		s := &guardedStream{ServerStream: &fakeStream{ctx: context.Background(), msgs: []*remote.RemoteMessage{in}},
			policy: p, peerAddr: "127.0.0.1:5555", peerHost: "127.0.0.1"}
		out := &remote.RemoteMessage{}
		if err := s.RecvMsg(out); err != nil {
			t.Fatal(err)
		}
		b := out.GetMessageBatch()
		if b == nil {
			if len(before) != 0 {
				t.Fatal("a batch disappeared")
			}
			return
		}
		if len(b.Envelopes)+drops != len(before) {
			t.Fatalf("%d kept + %d dropped != %d envelopes", len(b.Envelopes), drops, len(before))
		}
		// Kept envelopes are a subsequence of the original ones.
		i := 0
		for _, e := range b.Envelopes {
			for i < len(before) && before[i] != e {
				i++
			}
			if i == len(before) {
				t.Fatal("kept envelopes are not the original ones in order")
			}
			i++
			if !safeForEndpointReader(b, e, p, "127.0.0.1") {
				t.Fatalf("kept an unsafe envelope: %v in %v", e, b)
			}
		}
	})
}
