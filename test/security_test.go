package test

// Security end-to-end tests: the test process plays "another process" (a
// CLI, a worker, an attacker on the network) against the real master binary.
// Each test fails if the protection it names is taken away.

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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

	"github.com/buildmaster/buildmaster/internal/remoting"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// secPassword is linux-1's worker password: it must never be shown.
const secPassword = "wpw-5d1e0c7a-do-not-print"

// secConfig is a small config with a known worker password and debug
// actions on or off; extra is appended (more workers, say).
func secConfig(actions bool, extraWorkers ...string) string {
	workers := "  - {name: linux-1, password: " + secPassword + "}\n  - {name: linux-2, password: pw2}\n"
	for _, w := range extraWorkers {
		workers += "  - " + w + "\n"
	}
	return fmt.Sprintf(`
debug:
  actions: %v
workers:
%sbuilders:
  - name: runtests
    workers: [linux-1, linux-2]
    steps:
      - shell: {command: [echo, hi]}
schedulers:
  - {name: force, type: force, builders: [runtests]}
`, actions, workers)
}

// dropLine matches the master's log line for a message it dropped.
func dropLine(target, typeName, reason string) string {
	return `level=WARN msg="remote: dropped a message from another process" peer=127\.0\.0\.1:\d+ target=` +
		regexp.QuoteMeta(target) + ` type=` + regexp.QuoteMeta(typeName) + ` reason="` + regexp.QuoteMeta(reason)
}

const (
	notAccepted = "target does not accept this message from other processes"
	foreignType = "message type is not part of the buildmaster.v1 schema"
)

// waitLog waits until a line of the master's stderr after the first from
// matches re, like lines.waitFor, but fails at once if the master exits.
func (m *master) waitLog(from int, re string) {
	m.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.NewTimer(testkit.DefaultTimeout)
	defer deadline.Stop()
	for {
		all := m.stderr.snapshot()
		for i := from; i < len(all); i++ {
			if rx.MatchString(all[i]) {
				return
			}
		}
		select {
		case <-m.stderr.notify:
		case err := <-m.exited:
			m.t.Fatalf("the master exited (%v) before logging %q; stderr:\n%s", err, re, tail(m.stderr.snapshot(), 40))
		case <-deadline.C:
			m.t.Fatalf("no line matching %q within %s; stderr:\n%s", re, testkit.DefaultTimeout, tail(all, 40))
		}
	}
}

func tail(lines []string, n int) string {
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// health returns /healthz's status code and generation.
func (m *master) health() (int, float64) {
	m.t.Helper()
	var h map[string]any
	code := m.getJSON("/healthz", &h)
	if code == http.StatusOK && h["status"] != "ok" {
		m.t.Fatalf("healthz = %v", h)
	}
	g, _ := h["generation"].(float64)
	return code, g
}

// get returns the body of GET path on the debug endpoint.
func (m *master) get(path string) string {
	m.t.Helper()
	resp, err := http.Get("http://" + m.debug + path)
	if err != nil {
		m.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		m.t.Fatalf("GET %s: %s", path, resp.Status)
	}
	return readAll(m.t, resp)
}

// postCrash asks the debug endpoint to crash the actor at path, with the
// given Authorization header ("" for none).
func (m *master) postCrash(path, auth, reason string) (int, string, http.Header) {
	m.t.Helper()
	req, err := http.NewRequest("POST", "http://"+m.debug+"/debug/actors/"+path+"/crash?reason="+reason, nil)
	if err != nil {
		m.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	return resp.StatusCode, readAll(m.t, resp), resp.Header
}

// waitMetric polls /metrics until a line matches re.
func (m *master) waitMetric(re string) {
	m.t.Helper()
	rx := regexp.MustCompile(`(?m)^` + re + `$`)
	testkit.Retry(m.t, func() error {
		if body := m.get("/metrics"); !rx.MatchString(body) {
			return fmt.Errorf("/metrics never matched %s:\n%s", re, grepLines(body, "buildmaster_remote"))
		}
		return nil
	})
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// assertAlive checks that the master process is still running and serving:
// not exited, /healthz 200, and `buildmaster tree` answered over remote.
func (m *master) assertAlive() {
	m.t.Helper()
	select {
	case err := <-m.exited:
		m.t.Fatalf("the master exited (%v); stderr:\n%s", err, strings.Join(m.stderr.snapshot(), "\n"))
	default:
	}
	if code, _ := m.health(); code != http.StatusOK {
		m.t.Fatalf("healthz %d", code)
	}
	if out, errOut, code := m.cli("tree"); code != 0 || !strings.Contains(out, "botmaster [botmaster] running") {
		m.t.Fatalf("tree: exit %d\n%s%s", code, out, errOut)
	}
	for _, l := range m.stderr.snapshot() {
		if strings.Contains(l, "panic") {
			m.t.Fatalf("the master logged a panic: %s", l)
		}
	}
}

// peerProcess is this test process as a protoactor peer of the master: an
// actor system with a remote endpoint behind the client's policy, as the
// CLI has. There is one per test binary: protoactor's remote.Start sets
// gRPC's global logger unsynchronised, so a second one would race.
type peerProcess struct {
	system *actor.ActorSystem
	addr   string
}

var (
	peerOnce sync.Once
	thePeer  *peerProcess
	peerErr  error
)

func testPeer(t *testing.T) *peerProcess {
	t.Helper()
	peerOnce.Do(func() {
		quiet := slog.New(slog.DiscardHandler)
		system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
		var addr string
		if _, addr, peerErr = remoting.Start(system, "127.0.0.1:0", &remoting.Policy{Replies: true, Log: quiet}); peerErr == nil {
			thePeer = &peerProcess{system: system, addr: addr}
		}
	})
	if peerErr != nil {
		t.Fatal(peerErr)
	}
	return thePeer
}

// rawPeer is a hand-written protoactor peer: a gRPC Receive stream to the
// master on which the test writes whatever it likes.
type rawPeer struct {
	client remote.RemotingClient
	stream remote.Remoting_ReceiveClient
}

func dialRawPeer(t *testing.T, addr string) *rawPeer {
	t.Helper()
	conn, err := grpc.Dial(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); conn.Close() })
	p := &rawPeer{client: remote.NewRemotingClient(conn)}
	if p.stream, err = p.client.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	p.sendMsg(t, &remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "e2e-raw-peer", Address: "127.0.0.1:1"}},
	}}})
	resp, err := p.stream.Recv()
	if err != nil || resp.GetConnectResponse() == nil {
		t.Fatalf("connect response: %v %v", resp, err)
	}
	return p
}

func (p *rawPeer) sendMsg(t *testing.T, m *remote.RemoteMessage) {
	t.Helper()
	if err := p.stream.Send(m); err != nil {
		t.Fatal(err)
	}
}

func (p *rawPeer) send(t *testing.T, b *remote.MessageBatch) {
	t.Helper()
	p.sendMsg(t, &remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: b}})
}

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// (a) A client with the wrong admin token is refused, the refusal is logged,
// and nothing changes.
func TestSecurityWrongAdminTokenIsRefused(t *testing.T) {
	t.Parallel()
	m := startMaster(t, secConfig(true))
	_, gen := m.health()
	// The config on disk now adds a worker: a reconfig that got through
	// would load it.
	m.writeConfig(secConfig(true, "{name: mac-1, password: pw3}"))

	for _, args := range [][]string{{"tree"}, {"tree", "--json"}, {"reconfig"}, {"reconfig", "--dry-run"}} {
		from := m.stderr.count()
		out, errOut, code := m.cli(append(args, "--token", "wrong")...)
		if code != 2 || !strings.Contains(errOut, "the master refused the request: admin token missing or wrong") {
			t.Fatalf("%v --token wrong: exit %d, stderr:\n%s", args, code, errOut)
		}
		if strings.TrimSpace(out) != "" {
			t.Fatalf("%v --token wrong printed:\n%s", args, out)
		}
		typ := "GetTreeRequest"
		if args[0] == "reconfig" {
			typ = "ReconfigureRequest"
		}
		m.waitLog(from, `level=WARN msg="control request refused: bad admin token" from=127\.0\.0\.1:\d+ type=buildmaster\.v1\.`+typ)
	}
	if _, g := m.health(); g != gen {
		t.Fatalf("generation %v after refused requests, was %v", g, gen)
	}
	if m.tree().find("master/botmaster/worker:mac-1") != nil {
		t.Fatal("a refused reconfig was applied")
	}
	for _, l := range m.stderr.snapshot() {
		if strings.Contains(l, "beginning configuration update") {
			t.Fatalf("a refused reconfig started: %s", l)
		}
	}

	// The same requests with the right token go through.
	if out, errOut, code := m.cli("reconfig"); code != 0 {
		t.Fatalf("reconfig: exit %d\n%s%s", code, out, errOut)
	}
	if _, g := m.health(); g != gen+1 {
		t.Fatalf("generation %v after reconfig, want %v", g, gen+1)
	}
	m.waitTree("mac-1 added", func(n *treeNode) bool { return n.find("master/botmaster/worker:mac-1") != nil })
}

// (b) A message sent straight to an internal actor from another process is
// dropped and logged, even a valid request with the right token.
func TestSecurityInternalActorsAreUnreachableFromOutside(t *testing.T) {
	t.Parallel()
	m := startMaster(t, secConfig(true))
	p := testPeer(t)
	from := m.stderr.count()
	for _, id := range []string{"master/botmaster", "master/botmaster/brd", "master/botmaster/worker:linux-1", "master"} {
		p.system.Root.Send(actor.NewPID(m.remote, id), &messages.InjectFailure{Reason: "from another process"})
	}
	p.system.Root.Send(actor.NewPID(m.remote, "master/botmaster"), &messages.GetTreeRequest{Token: m.token})
	p.system.Root.Send(actor.NewPID(m.remote, "master/debug"), &messages.ReconfigureRequest{Token: m.token})
	for _, w := range []struct{ target, typ string }{
		{"master/botmaster", "InjectFailure"},
		{"master/botmaster/brd", "InjectFailure"},
		{"master/botmaster/worker:linux-1", "InjectFailure"},
		{"master", "InjectFailure"},
		{"master/botmaster", "GetTreeRequest"},
		{"master/debug", "ReconfigureRequest"},
	} {
		m.waitLog(from, dropLine(w.target, "buildmaster.v1."+w.typ, notAccepted))
	}
	m.waitMetric(`buildmaster_remote_dropped_messages_total\{reason="not_accepted"\} 6`)

	// The same process is answered when it asks the one public actor.
	res, err := remoting.Request(p.system, actor.NewPID(m.remote, "master"), &messages.GetTreeRequest{Token: m.token}, 20*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := res.(*messages.GetTreeResponse); !ok || r.GetRoot().GetName() != "master" {
		t.Fatalf("reply %T %v", res, res)
	}
	root := m.tree()
	for _, path := range []string{"master", "master/botmaster", "master/botmaster/brd", "master/botmaster/worker:linux-1"} {
		n := root.find(path)
		if n == nil || n.Restarts != 0 || n.LastFailure != nil || n.Status != "running" {
			t.Fatalf("%s = %+v", path, n)
		}
	}
	if _, g := m.health(); g != 1 {
		t.Fatalf("generation %v", g)
	}
}

// (c) protoactor's own lifecycle messages from outside are refused: no
// other process can stop, poison or watch the master's actors.
func TestSecuritySystemMessagesFromOutsideAreRefused(t *testing.T) {
	t.Parallel()
	m := startMaster(t, secConfig(true))
	p := testPeer(t)
	from := m.stderr.count()
	root := actor.NewPID(m.remote, "master")
	bm := actor.NewPID(m.remote, "master/botmaster")
	p.system.Root.Poison(root)
	p.system.Root.Stop(root)
	p.system.Root.Poison(bm)
	p.system.Root.Stop(bm)
	watcher := actor.NewPID(p.addr, "watcher")
	p.system.Root.Send(root, &actor.Watch{Watcher: watcher})
	p.system.Root.Send(root, &actor.Unwatch{Watcher: watcher})
	p.system.Root.Send(bm, &actor.Terminated{Who: root, Why: actor.TerminatedReason_Stopped})
	p.system.Root.Send(bm, &actor.Touch{})
	p.system.Root.Send(actor.NewPID(m.remote, "activator"), &remote.ActorPidRequest{Name: "x", Kind: "y"})
	for _, w := range []struct{ target, typ string }{
		{"master", "actor.PoisonPill"},
		{"master", "actor.Stop"},
		{"master/botmaster", "actor.PoisonPill"},
		{"master/botmaster", "actor.Stop"},
		{"master", "actor.Watch"},
		{"master", "actor.Unwatch"},
		{"master/botmaster", "actor.Terminated"},
		{"master/botmaster", "actor.Touch"},
		{"activator", "remote.ActorPidRequest"},
	} {
		m.waitLog(from, dropLine(w.target, w.typ, foreignType))
	}
	m.waitMetric(`buildmaster_remote_dropped_messages_total\{reason="foreign_type"\} 9`)
	m.assertAlive()
	tree := m.tree()
	if tree.Status != "running" || strings.Join(tree.childNames(), ",") != strings.Join(services, ",") {
		t.Fatalf("tree after system messages: %s %v", tree.Status, tree.childNames())
	}
	for _, path := range tree.paths() {
		if n := tree.find(path); n.Status != "running" || n.Restarts != 0 {
			t.Fatalf("%s = %+v", path, n)
		}
	}
}

// (d) Unknown message types, garbage and malformed batches never crash the
// master. Without the guard, protoactor panics on most of these (an unknown
// type, an index out of range, serializer 99, the unary diagnostics calls)
// and the whole process dies.
func TestSecurityGarbageNeverCrashesTheMaster(t *testing.T) {
	t.Parallel()
	m := startMaster(t, secConfig(true))
	from := m.stderr.count()
	self := actor.NewPID(m.remote, "master")
	tree := marshal(t, &messages.GetTreeRequest{Token: m.token})
	const gtr = "buildmaster.v1.GetTreeRequest"
	cases := []struct {
		name  string
		batch *remote.MessageBatch
		want  string // the drop line; "" for none
	}{
		{"unregistered schema type", &remote.MessageBatch{TypeNames: []string{"buildmaster.v1.NoSuchThing"}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{MessageData: []byte("\x0a\x03abc")}}},
			dropLine("master", "buildmaster.v1.NoSuchThing", "unknown message type")},
		{"unregistered foreign type", &remote.MessageBatch{TypeNames: []string{"foo.Bar"}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{MessageData: []byte{1}}}},
			dropLine("master", "foo.Bar", foreignType)},
		{"garbage data for a real type", &remote.MessageBatch{TypeNames: []string{gtr}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{MessageData: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}}},
			dropLine("master", gtr, "message does not decode")},
		{"type index out of range", &remote.MessageBatch{TypeNames: []string{gtr}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{TypeId: 7, MessageData: tree}}},
			`target="" type="" reason="type index out of range"`},
		{"negative type index", &remote.MessageBatch{TypeNames: []string{gtr}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{TypeId: -1, MessageData: tree}}},
			`target="" type="" reason="type index out of range"`},
		{"target index out of range", &remote.MessageBatch{TypeNames: []string{gtr}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{Target: 3, MessageData: tree}}},
			`target="" type=` + gtr + ` reason="target index out of range"`},
		{"no targets at all", &remote.MessageBatch{TypeNames: []string{gtr},
			Envelopes: []*remote.MessageEnvelope{{MessageData: tree}}},
			`target="" type=` + gtr + ` reason="target index out of range"`},
		{"sender index out of range", &remote.MessageBatch{TypeNames: []string{gtr}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{Sender: 5, MessageData: tree}}},
			`target=master type=` + gtr + ` reason="sender index out of range"`},
		{"nil target", &remote.MessageBatch{TypeNames: []string{gtr}, Targets: []*actor.PID{nil},
			Envelopes: []*remote.MessageEnvelope{{MessageData: tree}}},
			`target="" type=` + gtr + ` reason="target address  is not this process's`},
		{"JSON serializer, right token", &remote.MessageBatch{TypeNames: []string{gtr}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{SerializerId: 1, MessageData: []byte(`{"token":"` + m.token + `"}`)}}},
			dropLine("master", gtr, "only the protobuf serializer is accepted")},
		{"serializer 99", &remote.MessageBatch{TypeNames: []string{gtr}, Targets: []*actor.PID{self},
			Envelopes: []*remote.MessageEnvelope{{SerializerId: 99, MessageData: tree}}},
			dropLine("master", gtr, "only the protobuf serializer is accepted")},
		{"empty batch", &remote.MessageBatch{}, ""},
		{"batch of one empty envelope", &remote.MessageBatch{Envelopes: []*remote.MessageEnvelope{{}}},
			`target="" type="" reason="type index out of range"`},
	}
	raw := dialRawPeer(t, m.remote)
	for _, c := range cases {
		raw.send(t, c.batch)
		if c.want != "" {
			m.waitLog(from, c.want)
		}
	}
	// Other odd messages on the stream.
	raw.sendMsg(t, &remote.RemoteMessage{})
	raw.sendMsg(t, &remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ClientConnection{ClientConnection: &remote.ClientConnection{SystemId: "x"}}}}})
	raw.sendMsg(t, &remote.RemoteMessage{MessageType: &remote.RemoteMessage_DisconnectRequest{DisconnectRequest: &remote.DisconnectRequest{}}})
	// The stream is still served: one more bad batch is still read and dropped.
	raw.send(t, &remote.MessageBatch{TypeNames: []string{"foo.Last"}, Targets: []*actor.PID{self}, Envelopes: []*remote.MessageEnvelope{{}}})
	m.waitLog(from, dropLine("master", "foo.Last", foreignType))

	// Each case again, each on a stream of its own, all at once.
	var wg sync.WaitGroup
	for range 4 {
		r := dialRawPeer(t, m.remote)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range cases {
				if err := r.stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: c.batch}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()

	// The library's unfinished unary calls panic upstream; they are refused.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := raw.client.ListProcesses(ctx, &remote.ListProcessesRequest{Pattern: "*"}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("ListProcesses: %v", err)
	}
	if _, err := raw.client.GetProcessDiagnostics(ctx, &remote.GetProcessDiagnosticsRequest{Pid: self}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("GetProcessDiagnostics: %v", err)
	}

	// Raw garbage on the TCP port: random bytes, an HTTP/1 request, and an
	// HTTP/2 preface followed by junk frames.
	junk := make([]byte, 64<<10)
	rand.Read(junk)
	for _, payload := range [][]byte{
		junk,
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), junk[:4096]...),
		append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"), junk[:1<<10]...),
	} {
		c, err := net.Dial("tcp", m.remote)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write(payload)
		buf := make([]byte, 4096)
		for { // until the server hangs up
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		c.Close()
	}

	m.assertAlive()
	for _, reason := range []string{"unknown_type", "foreign_type", "undecodable", "malformed", "serializer", "foreign_target"} {
		m.waitMetric(`buildmaster_remote_dropped_messages_total\{reason="` + reason + `"\} [1-9][0-9]*`)
	}
	// Every batch of the concurrent streams was read and filtered too: one
	// unknown type on each of 5 streams.
	m.waitMetric(`buildmaster_remote_dropped_messages_total\{reason="unknown_type"\} 5`)
	for _, l := range m.stderr.snapshot() {
		if strings.Contains(l, m.token) {
			t.Fatalf("the admin token was logged: %s", l)
		}
	}
}

// (e) A sender that claims another host's address is dropped, so the master
// never connects outward to answer it; likewise a target that names another
// address, which protoactor would otherwise forward there. No non-loopback
// address is contacted (192.0.2.0/24, the claimed senders, is TEST-NET-1).
func TestSecurityForeignSenderAndTargetAreDropped(t *testing.T) {
	t.Parallel()
	m := startMaster(t, secConfig(true))
	p := testPeer(t)
	from := m.stderr.count()
	master := actor.NewPID(m.remote, "master")

	// Through protoactor itself: a request whose reply would go elsewhere.
	p.system.Root.RequestWithCustomSender(master, &messages.GetTreeRequest{Token: m.token}, actor.NewPID("192.0.2.10:1234", "spoofed"))
	m.waitLog(from, dropLine("master", "buildmaster.v1.GetTreeRequest", "sender address 192.0.2.10:1234 is not the peer's"))

	// By hand, with a wrong token too: the refusal would be sent to the
	// claimed sender.
	raw := dialRawPeer(t, m.remote)
	raw.send(t, &remote.MessageBatch{
		TypeNames: []string{"buildmaster.v1.GetTreeRequest", "buildmaster.v1.ReconfigureRequest"},
		Targets:   []*actor.PID{master},
		Senders:   []*actor.PID{actor.NewPID("192.0.2.11:1234", "a"), actor.NewPID("", "b"), actor.NewPID("nonhost", "c")},
		Envelopes: []*remote.MessageEnvelope{
			{TypeId: 0, Sender: 1, MessageData: marshal(t, &messages.GetTreeRequest{Token: "wrong"})},
			{TypeId: 1, Sender: 2, MessageData: marshal(t, &messages.ReconfigureRequest{Token: m.token, DryRun: true})},
			{TypeId: 1, Sender: 3, MessageData: marshal(t, &messages.ReconfigureRequest{Token: m.token, DryRun: true})},
		},
	})
	m.waitLog(from, dropLine("master", "buildmaster.v1.GetTreeRequest", "sender address 192.0.2.11:1234 is not the peer's"))
	m.waitLog(from, dropLine("master", "buildmaster.v1.ReconfigureRequest", `sender address  is not the peer's`))
	m.waitLog(from, dropLine("master", "buildmaster.v1.ReconfigureRequest", `sender address nonhost is not the peer's`))

	// A target at another address: a relay. The address is a loopback
	// listener of this test, to see whether the master dials it.
	relay := testkit.Listen(t)
	dialled := make(chan struct{}, 1)
	go func() {
		if c, err := relay.Accept(); err == nil {
			c.Close()
			dialled <- struct{}{}
		}
	}()
	raw.send(t, &remote.MessageBatch{
		TypeNames: []string{"buildmaster.v1.GetTreeRequest"},
		Targets:   []*actor.PID{actor.NewPID(relay.Addr().String(), "master"), actor.NewPID("localhost"+m.remote[strings.LastIndex(m.remote, ":"):], "master")},
		Envelopes: []*remote.MessageEnvelope{
			{Target: 0, MessageData: marshal(t, &messages.GetTreeRequest{Token: m.token})},
			{Target: 1, MessageData: marshal(t, &messages.GetTreeRequest{Token: m.token})},
		},
	})
	m.waitLog(from, dropLine("master", "buildmaster.v1.GetTreeRequest", "target address "+relay.Addr().String()+" is not this process's ("+m.remote+")"))
	// The master itself under another name: protoactor would forward it,
	// to itself, again and again.
	m.waitLog(from, dropLine("master", "buildmaster.v1.GetTreeRequest", "target address localhost:"))
	m.waitMetric(`buildmaster_remote_dropped_messages_total\{reason="foreign_sender"\} 4`)
	m.waitMetric(`buildmaster_remote_dropped_messages_total\{reason="foreign_target"\} 2`)

	// The same request from this process's real address is answered: only
	// the claimed addresses were refused. The master dialled back here; it
	// had all the time of that round trip to dial the relay too.
	res, err := remoting.Request(p.system, master, &messages.GetTreeRequest{Token: m.token}, 20*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.(*messages.GetTreeResponse); !ok {
		t.Fatalf("reply %T %v", res, res)
	}
	m.assertAlive()
	select {
	case <-dialled:
		t.Fatal("the master connected to the address a peer's target named")
	default:
	}
	for _, l := range m.stderr.snapshot() {
		if strings.Contains(l, "192.0.2.") && !strings.Contains(l, "dropped a message") {
			t.Fatalf("the master acted on a foreign address: %s", l)
		}
	}
}

// (f) The debug crash action needs both debug.actions: true and the admin
// token.
func TestSecurityDebugCrashNeedsActionsAndToken(t *testing.T) {
	t.Parallel()
	m := startMaster(t, secConfig(false))
	const path = "master/botmaster/worker:linux-1"
	post := func(auth, reason string) (int, string, http.Header) {
		t.Helper()
		return m.postCrash(path, auth, reason)
	}
	// Actions off: refused even with the right token.
	for i, auth := range []string{"Bearer " + m.token, ""} {
		if code, body, _ := post(auth, "off"+strconv.Itoa(i)); code != http.StatusForbidden || !strings.Contains(body, "debug.actions") {
			t.Fatalf("actions off: %d %s", code, body)
		}
	}
	// Turn them on by a reconfig.
	m.writeConfig(secConfig(true))
	if out, errOut, code := m.cli("reconfig"); code != 0 {
		t.Fatalf("reconfig: exit %d\n%s%s", code, out, errOut)
	}
	// No or a wrong token: refused.
	for i, auth := range []string{"", "Bearer wrong", "Bearer " + m.token + "x", "Bearer " + m.token[:len(m.token)-1], "Basic " + m.token, "Bearer"} {
		code, body, h := post(auth, "bad"+strconv.Itoa(i))
		if code != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("Authorization %q: %d %s", auth, code, body)
		}
		if strings.Contains(body, m.token) {
			t.Fatalf("the token is in a refusal: %s", body)
		}
	}
	// The right token: the actor crashes once, for this request.
	if code, body, _ := post("Bearer "+m.token, "valid"); code != http.StatusAccepted {
		t.Fatalf("right token: %d %s", code, body)
	}
	n := m.waitTree("the crash", func(n *treeNode) bool {
		w := n.find(path)
		return w != nil && w.LastFailure != nil && strings.Contains(w.LastFailure.Reason, "injected failure: valid") && w.Status == "running"
	}).find(path)
	// Had a refused request been acted on, its failure would have come
	// first (all were sent before) and counted.
	if n.Restarts != 1 {
		t.Fatalf("restarts = %d, want 1: %+v", n.Restarts, n)
	}
	for _, l := range m.stderr.snapshot() {
		if strings.Contains(l, "injected failure: off") || strings.Contains(l, "injected failure: bad") {
			t.Fatalf("a refused crash was carried out: %s", l)
		}
	}
}

// (g) Secrets never appear: not the worker password, not the admin token,
// in the master's output, its debug endpoint, its metrics, or a client's
// output, whatever happens.
func TestSecuritySecretsNeverAppear(t *testing.T) {
	t.Parallel()
	m := startMaster(t, secConfig(true), "--log-level", "debug")
	p := testPeer(t)
	secrets := map[string]string{"worker password": secPassword, "admin token": m.token}
	var shown []string // everything a user or client saw
	cli := func(wantCode int, args ...string) {
		t.Helper()
		out, errOut, code := m.cli(args...)
		if code != wantCode {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, wantCode, out, errOut)
		}
		shown = append(shown, fmt.Sprintf("$ buildmaster %v\n%s%s", args, out, errOut))
	}

	// Normal use, and refusals of all kinds.
	cli(0, "tree")
	cli(0, "tree", "--json")
	cli(2, "tree", "--token", "wrong")
	from := m.stderr.count()
	p.system.Root.Send(actor.NewPID(m.remote, "master/botmaster"), &messages.GetTreeRequest{Token: m.token})
	p.system.Root.Send(actor.NewPID(m.remote, "master/botmaster"), &messages.ReconfigureRequest{Token: m.token, ConfigYaml: []byte(secConfig(true))})
	m.waitLog(from, dropLine("master/botmaster", "buildmaster.v1.ReconfigureRequest", notAccepted))
	if code, body, _ := m.postCrash("master/botmaster/worker:linux-1", "Bearer "+m.token, "secrets"); code != http.StatusAccepted {
		t.Fatalf("crash: %d %s", code, body)
	}
	m.waitTree("the crash", func(n *treeNode) bool { return n.find("master/botmaster/worker:linux-1").Restarts == 1 })

	// Rejected reconfigs whose errors sit on or next to the password.
	dir := t.TempDir()
	bad := map[string]string{
		"duplicate password key": "{name: linux-1, password: " + secPassword + ", password: " + secPassword + "}",
		"password as a list":     "{name: linux-1, password: [" + secPassword + "]}",
		"password as a mapping":  "{name: linux-1, password: {" + secPassword + ": 1}}",
		"error after password":   "{name: linux-1, password: " + secPassword + ", max_builds: lots}",
		"misspelt password key":  "{name: linux-1, pasword: " + secPassword + "}",
		"unclosed quote":         "{name: linux-1, password: \"" + secPassword + "}",
		"unclosed single quote":  "{name: linux-1, password: '" + secPassword + "}",
		"colon in password":      "{name: linux-1, password: " + secPassword + ": x}",
	}
	for name, worker := range bad {
		cfg := strings.Replace(secConfig(true), "{name: linux-1, password: "+secPassword+"}", worker, 1)
		f := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		if err := os.WriteFile(f, []byte(masterConfig(m.remote, m.www, m.debug, cfg)), 0o600); err != nil {
			t.Fatal(err)
		}
		cli(1, "reconfig", "--config", f)
		cli(1, "reconfig", "--dry-run", "--config", f)
		shown = append(shown, runCheckconfig(t, f))
	}
	// The master's own file, rejected on a bare reconfig (errors logged).
	m.writeConfig(strings.Replace(secConfig(true), "{name: linux-1, password: "+secPassword+"}", bad["password as a list"], 1))
	cli(1, "reconfig")
	// And accepted, with a changed password.
	m.writeConfig(strings.Replace(secConfig(true), secPassword, secPassword+"-2", 1))
	cli(0, "reconfig")
	m.waitTree("the reconfig", func(n *treeNode) bool { return n.find("master/botmaster/worker:linux-1") != nil })

	// Everything the master shows.
	root := m.tree()
	shown = append(shown,
		m.get("/debug/tree"), m.get("/debug/tree?format=text"), m.get("/debug/tree?format=html"),
		m.get("/metrics"), m.get("/healthz"))
	for _, path := range root.paths() {
		shown = append(shown, m.get("/debug/actors/"+path))
	}
	worker := m.get("/debug/actors/master/botmaster/worker:linux-1")
	if !strings.Contains(worker, `"linux-1"`) {
		t.Fatalf("worker state:\n%s", worker)
	}
	// The master's output, after a clean stop (which logs every actor).
	from = m.stderr.count()
	m.signal(syscall.SIGTERM)
	if code := m.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	m.stderr.waitFor(t, from, "master stopped")
	shown = append(shown, strings.Join(m.stderr.snapshot(), "\n"), strings.Join(m.stdout.snapshot(), "\n"))

	for _, s := range shown {
		for what, secret := range secrets {
			if i := strings.Index(s, secret); i >= 0 {
				t.Errorf("the %s is shown:\n%s", what, s[max(0, i-300):min(len(s), i+100)])
			}
		}
		// Any part of the password, such as the part a YAML error quotes.
		if strings.Contains(s, "5d1e0c7a") {
			t.Errorf("part of the worker password is shown:\n%s", s)
		}
	}
	if len(shown) < 30 {
		t.Fatalf("only %d outputs checked", len(shown))
	}
}

// TestSecurityPasswordInYAMLErrors: a YAML error that quotes the password's
// own text (an unquoted password that starts with '*' is read as an alias).
func TestSecurityPasswordInYAMLErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, worker := range map[string]string{
		"unknown anchor": "{name: linux-1, password: *" + secPassword + "}",
		"alias":          "&" + secPassword + " {name: linux-2, password: x}\n  - {name: linux-1, password: *" + secPassword + "}",
	} {
		cfg := strings.Replace(secConfig(true), "{name: linux-1, password: "+secPassword+"}", worker, 1)
		cfg = strings.Replace(cfg, "  - {name: linux-2, password: pw2}\n", "", 1)
		f := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		if err := os.WriteFile(f, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if out := runCheckconfig(t, f); strings.Contains(out, secPassword) {
			t.Errorf("%s: the YAML error quotes the password:\n%s", name, out)
		}
	}
}

func runCheckconfig(t *testing.T, path string) string {
	t.Helper()
	out, errOut, code := run(t, "checkconfig", path)
	if code != 1 {
		t.Fatalf("checkconfig %s: exit %d\n%s%s", path, code, out, errOut)
	}
	return out + errOut
}
