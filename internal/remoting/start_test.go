package remoting

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// liveEndpoint is an actor system behind Start, with an actor "master" (and
// an internal "master/inner") that report what they receive.
type liveEndpoint struct {
	system *actor.ActorSystem
	remote *remote.Remote
	addr   string
	got    chan received // messages "master" and "master/inner" received
	rec    *recorder
}

type received struct {
	to     string
	msg    any
	sender *actor.PID
}

// live is the one endpoint this test binary starts: protoactor's Start
// sets gRPC's global logger without synchronisation, so a second remote in
// one process races with the first one's server goroutines.
var (
	liveOnce sync.Once
	live     *liveEndpoint
	liveErr  error
)

// startLive returns the shared endpoint. Its policy is a master's (only
// "master" takes the control requests) that also takes replies to its
// request futures, as a client's does.
func startLive(t *testing.T) *liveEndpoint {
	t.Helper()
	liveOnce.Do(func() {
		quiet := slog.New(slog.DiscardHandler)
		system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
		l := &liveEndpoint{system: system, got: make(chan received, 100), rec: &recorder{}}
		p := l.rec.policy()
		p.self = nil // Start must set it: the policy given is a template
		p.Replies = true
		r, addr, err := Start(system, "127.0.0.1:0", p)
		if err != nil {
			liveErr = err
			return
		}
		if p.self != nil {
			liveErr = errors.New("Start changed the caller's policy")
			return
		}
		l.remote, l.addr = r, addr
		for _, id := range []string{"master", "master/inner"} {
			props := actor.PropsFromFunc(func(c actor.Context) {
				if _, ok := c.Message().(proto.Message); ok {
					if _, sys := c.Message().(actor.SystemMessage); !sys {
						l.got <- received{to: id, msg: c.Message(), sender: c.Sender()}
					}
				}
			})
			if _, err := system.Root.SpawnNamed(props, id); err != nil {
				liveErr = err
				return
			}
		}
		live = l
	})
	if liveErr != nil {
		t.Fatal(liveErr)
	}
	return live
}

// drops returns the reasons of every message the shared endpoint dropped.
func (l *liveEndpoint) drops() []string {
	l.rec.mu.Lock()
	defer l.rec.mu.Unlock()
	return append([]string(nil), l.rec.dropped...)
}

// rawStream is a hand-driven protoactor peer: a gRPC Receive stream on
// which the test writes whatever it likes.
type rawStream struct {
	conn   *grpc.ClientConn
	stream remote.Remoting_ReceiveClient
	client remote.RemotingClient
}

func dialRaw(t *testing.T, addr string) *rawStream {
	t.Helper()
	conn, err := grpc.Dial(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); conn.Close() })
	client := remote.NewRemotingClient(conn)
	stream, err := client.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "raw-test-peer", Address: "127.0.0.1:1"}},
	}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || resp.GetConnectResponse() == nil {
		t.Fatalf("connect response: %v %v", resp, err)
	}
	return &rawStream{conn: conn, stream: stream, client: client}
}

func (r *rawStream) send(t *testing.T, b *remote.MessageBatch) {
	t.Helper()
	if err := r.stream.Send(batchMessage(b)); err != nil {
		t.Fatal(err)
	}
}

func (l *liveEndpoint) next(t *testing.T) received {
	t.Helper()
	select {
	case m := <-l.got:
		return m
	case <-time.After(testkit.DefaultTimeout):
		t.Fatalf("nothing delivered; guard log:\n%s", l.rec.String())
		return received{}
	}
}

// TestStartGuardsTheLiveEndpoint drives a real protoactor endpoint started
// by Start with every kind of malformed batch. Without the guard the
// library panics on most of them, which would kill this test binary.
func TestStartGuardsTheLiveEndpoint(t *testing.T) {
	l := startLive(t)
	before := len(l.drops())
	if l.addr != l.system.Address() || !strings.HasPrefix(l.addr, "127.0.0.1:") || strings.HasSuffix(l.addr, ":0") {
		t.Fatalf("Start returned %q, system address %q", l.addr, l.system.Address())
	}
	raw := dialRaw(t, l.addr)
	master := actor.NewPID(l.addr, "master")
	tree := mustMarshal(t, &messages.GetTreeRequest{Token: "tok"})
	marker := func(token string) *remote.MessageBatch {
		return &remote.MessageBatch{
			TypeNames: []string{"buildmaster.v1.GetTreeRequest"},
			Targets:   []*actor.PID{master},
			Envelopes: []*remote.MessageEnvelope{{MessageData: mustMarshal(t, &messages.GetTreeRequest{Token: token})}},
		}
	}
	relay := testkit.Listen(t)
	relayed := make(chan struct{}, 1)
	go func() {
		if c, err := relay.Accept(); err == nil {
			c.Close()
			relayed <- struct{}{}
		}
	}()

	bad := []struct {
		name string
		b    *remote.MessageBatch
		code string
	}{
		{"unregistered schema type", &remote.MessageBatch{TypeNames: []string{"buildmaster.v1.NoSuchThing"}, Targets: []*actor.PID{master},
			Envelopes: []*remote.MessageEnvelope{{MessageData: []byte{1, 2, 3}}}}, DropUnknownType},
		{"foreign type", &remote.MessageBatch{TypeNames: []string{"foo.Bar"}, Targets: []*actor.PID{master},
			Envelopes: []*remote.MessageEnvelope{{}}}, DropForeignType},
		{"garbage data", &remote.MessageBatch{TypeNames: []string{"buildmaster.v1.GetTreeRequest"}, Targets: []*actor.PID{master},
			Envelopes: []*remote.MessageEnvelope{{MessageData: []byte{0xff, 0xff, 0xff, 0xff}}}}, DropUndecodable},
		{"type index out of range", &remote.MessageBatch{TypeNames: []string{"buildmaster.v1.GetTreeRequest"}, Targets: []*actor.PID{master},
			Envelopes: []*remote.MessageEnvelope{{TypeId: 3, MessageData: tree}}}, DropMalformed},
		{"target index out of range", &remote.MessageBatch{TypeNames: []string{"buildmaster.v1.GetTreeRequest"}, Targets: []*actor.PID{master},
			Envelopes: []*remote.MessageEnvelope{{Target: 4, MessageData: tree}}}, DropMalformed},
		{"sender index out of range", &remote.MessageBatch{TypeNames: []string{"buildmaster.v1.GetTreeRequest"}, Targets: []*actor.PID{master},
			Envelopes: []*remote.MessageEnvelope{{Sender: 2, MessageData: tree}}}, DropMalformed},
		{"empty target", &remote.MessageBatch{TypeNames: []string{"buildmaster.v1.GetTreeRequest"}, Targets: []*actor.PID{{}},
			Envelopes: []*remote.MessageEnvelope{{MessageData: tree}}}, DropForeignTarget},
		{"JSON serializer", &remote.MessageBatch{TypeNames: []string{"buildmaster.v1.GetTreeRequest"}, Targets: []*actor.PID{master},
			Envelopes: []*remote.MessageEnvelope{{SerializerId: 1, MessageData: []byte(`{"token":"tok"}`)}}}, DropSerializer},
		{"serializer 99", &remote.MessageBatch{TypeNames: []string{"buildmaster.v1.GetTreeRequest"}, Targets: []*actor.PID{master},
			Envelopes: []*remote.MessageEnvelope{{SerializerId: 99, MessageData: tree}}}, DropSerializer},
		{"poison pill", &remote.MessageBatch{TypeNames: []string{"actor.PoisonPill"}, Targets: []*actor.PID{master},
			Envelopes: []*remote.MessageEnvelope{{}}}, DropForeignType},
		{"stop", &remote.MessageBatch{TypeNames: []string{"actor.Stop"}, Targets: []*actor.PID{master},
			Envelopes: []*remote.MessageEnvelope{{}}}, DropForeignType},
		{"internal actor", &remote.MessageBatch{TypeNames: []string{"buildmaster.v1.GetTreeRequest"}, Targets: []*actor.PID{actor.NewPID(l.addr, "master/inner")},
			Envelopes: []*remote.MessageEnvelope{{MessageData: tree}}}, DropNotAccepted},
		{"foreign sender", &remote.MessageBatch{TypeNames: []string{"buildmaster.v1.GetTreeRequest"}, Targets: []*actor.PID{master},
			Senders:   []*actor.PID{actor.NewPID("192.0.2.10:1234", "x")},
			Envelopes: []*remote.MessageEnvelope{{Sender: 1, MessageData: tree}}}, DropForeignSender},
		// Would make this endpoint open a connection to relay and forward
		// the request there.
		{"target at another address", &remote.MessageBatch{TypeNames: []string{"buildmaster.v1.GetTreeRequest"},
			Targets:   []*actor.PID{actor.NewPID(relay.Addr().String(), "master")},
			Envelopes: []*remote.MessageEnvelope{{MessageData: tree}}}, DropForeignTarget},
	}
	for i, c := range bad {
		raw.send(t, c.b)
		raw.send(t, &remote.MessageBatch{})
		// The marker after each bad batch arrives, so the stream (and the
		// process) survived it, and nothing of the bad batch came first.
		raw.send(t, marker("marker-"+c.name))
		got := l.next(t)
		if req, ok := got.msg.(*messages.GetTreeRequest); !ok || req.GetToken() != "marker-"+c.name || got.to != "master" {
			t.Fatalf("%s: delivered %s %T %v", c.name, got.to, got.msg, got.msg)
		}
		dropped := l.drops()[before:]
		if len(dropped) != i+1 || dropped[i] != c.code {
			t.Fatalf("%s: drops so far %v, want the last to be %s", c.name, dropped, c.code)
		}
	}
	select {
	case <-relayed:
		t.Fatal("the endpoint connected to the address a peer's target named")
	default:
	}

	// A valid request with a sender at the peer's host is delivered with it.
	raw.send(t, &remote.MessageBatch{TypeNames: []string{"buildmaster.v1.ReconfigureRequest"}, Targets: []*actor.PID{master},
		Senders:   []*actor.PID{actor.NewPID("127.0.0.1:40000", "client")},
		Envelopes: []*remote.MessageEnvelope{{Sender: 1, MessageData: mustMarshal(t, &messages.ReconfigureRequest{Token: "ok", DryRun: true})}}})
	got := l.next(t)
	if req, ok := got.msg.(*messages.ReconfigureRequest); !ok || !req.GetDryRun() || got.sender.GetAddress() != "127.0.0.1:40000" {
		t.Fatalf("delivered %T %v from %v", got.msg, got.msg, got.sender)
	}

	// The library's unfinished unary calls are refused, not panicked on.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := raw.client.ListProcesses(ctx, &remote.ListProcessesRequest{Pattern: "*"}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("ListProcesses: %v", err)
	}
	if _, err := raw.client.GetProcessDiagnostics(ctx, &remote.GetProcessDiagnosticsRequest{Pid: master}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("GetProcessDiagnostics: %v", err)
	}
	raw.send(t, marker("still alive"))
	if got := l.next(t); got.msg.(*messages.GetTreeRequest).GetToken() != "still alive" {
		t.Fatalf("delivered %v", got.msg)
	}
}

// TestStartRepliesReachOnlyReplyAddresses checks the client side of a
// policy (Replies): a reply reaches the reply address of a Request, and its
// future; a forged reply to one of protoactor's futures (numbered in
// sequence, so a stranger can guess them), an internal actor and the
// library's own message types stay out of reach.
func TestStartRepliesReachOnlyReplyAddresses(t *testing.T) {
	l := startLive(t)
	before := len(l.drops())
	raw := dialRaw(t, l.addr)
	guessable := actor.NewFuture(l.system, time.Second) // its forged answer is the third drop
	if !strings.HasPrefix(guessable.PID().GetId(), "future$") {
		t.Fatalf("future PID %v", guessable.PID())
	}
	// A request to "master", which never answers: it learns the reply
	// address as the request's sender, and the raw peer answers instead.
	f := Request(l.system, actor.NewPID(l.addr, "master"), &messages.GetTreeRequest{Token: "probe"}, 10*time.Second)
	probe := testkit.Recv(t, "the request", l.got)
	sender := probe.sender
	if !strings.HasPrefix(sender.GetId(), ReplyPrefix) || len(sender.GetId()) < len(ReplyPrefix)+32 || sender.GetAddress() != l.addr {
		t.Fatalf("reply address %v", sender)
	}
	raw.send(t, &remote.MessageBatch{
		TypeNames: []string{"actor.PoisonPill", "buildmaster.v1.GetTreeRequest", "buildmaster.v1.GetTreeResponse"},
		Targets:   []*actor.PID{sender, actor.NewPID(l.addr, "master/inner"), guessable.PID()},
		Envelopes: []*remote.MessageEnvelope{
			{TypeId: 0, Target: 0},
			{TypeId: 1, Target: 1, MessageData: mustMarshal(t, &messages.GetTreeRequest{Token: "t"})},
			{TypeId: 2, Target: 2, MessageData: mustMarshal(t, &messages.GetTreeResponse{Generation: 666})},
			{TypeId: 2, Target: 0, MessageData: mustMarshal(t, &messages.GetTreeResponse{Generation: 42})},
		},
	})
	res, err := f.Result()
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := res.(*messages.GetTreeResponse); !ok || r.GetGeneration() != 42 {
		t.Fatalf("reply %T %v", res, res)
	}
	if got := l.drops()[before:]; strings.Join(got, ",") != DropForeignType+","+DropNotAccepted+","+DropNotAccepted {
		t.Fatalf("dropped %v", got)
	}
	select {
	case m := <-l.got:
		t.Fatalf("an actor received %v", m)
	default:
	}
}

func TestStartReportsABusyPort(t *testing.T) {
	// protoactor sets gRPC's global logger before it binds, which races with
	// the endpoint other tests of this binary started: bind in a process of
	// its own (this test binary, running this test alone).
	if addr := os.Getenv("REMOTING_TEST_BUSY_ADDR"); addr != "" {
		quiet := slog.New(slog.DiscardHandler)
		system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
		defer system.Shutdown()
		r, _, err := Start(system, addr, &Policy{Log: quiet})
		if err == nil {
			r.Shutdown(false)
			t.Fatalf("Start(%q) succeeded", addr)
		}
		if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), addr) {
			t.Fatalf("Start(%q): %v", addr, err)
		}
		return
	}
	l := testkit.Listen(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestStartReportsABusyPort$", "-test.count=1")
	cmd.Env = append(os.Environ(), "REMOTING_TEST_BUSY_ADDR="+l.Addr().String())
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("%v\n%s", err, out)
	}
}

func TestStartRefusesBadAddresses(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	defer system.Shutdown()
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:http-ish", "127.0.0.1:99999", "127.0.0.1:-1"} {
		if r, _, err := Start(system, addr, &Policy{Log: quiet}); err == nil {
			r.Shutdown(false)
			t.Fatalf("Start(%q) succeeded", addr)
		}
	}
}
