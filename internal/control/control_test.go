package control

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// masterActor answers a GetTreeRequest with the peer its header names as
// the root's name (asked for text, with 64 KiB of it), or refuses a wrong token; it never answers a
// StopMasterRequest.
type masterActor struct{}

func (masterActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.GetTreeRequest:
		if m.GetToken() != "tok" {
			ctx.Respond(&messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_UNAUTHENTICATED, Message: "admin token missing or wrong"})
			return
		}
		if m.GetText() { // a reply larger than net/http's buffer
			ctx.Respond(&messages.GetTreeResponse{Text: make([]byte, 64<<10)})
			return
		}
		ctx.Respond(&messages.GetTreeResponse{Root: &messages.TreeNode{Name: ctx.MessageHeader().Get(FromHeader)}})
	}
}

func quietSystem() *actor.ActorSystem {
	quiet := slog.New(slog.DiscardHandler)
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
}

// drops are the reasons an endpoint counted.
type drops struct {
	mu      sync.Mutex
	reasons []string
}

func (d *drops) add(r string) { d.mu.Lock(); d.reasons = append(d.reasons, r); d.mu.Unlock() }

func (d *drops) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.reasons, ",")
}

// serve runs an endpoint for a system with one actor, "master", on a bound
// listener, and returns its address and the drop reasons it counts.
func serve(t *testing.T) (string, *drops) {
	t.Helper()
	system := quietSystem()
	t.Cleanup(system.Shutdown)
	if _, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return masterActor{} }), "master"); err != nil {
		t.Fatal(err)
	}
	dropped := &drops{}
	log, _ := testkit.NewLogs()
	srv := NewServer(system, map[string][]proto.Message{
		"master":    {&messages.GetTreeRequest{}, &messages.StopMasterRequest{}},
		"not_there": {&messages.GetTreeRequest{}},
	}, log, dropped.add)
	l := testkit.Listen(t)
	hs := &http.Server{Handler: srv}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	return l.Addr().String(), dropped
}

func TestCall(t *testing.T) {
	addr, dropped := serve(t)
	ctx := context.Background()
	c := NewClient(addr)
	defer c.Close()

	tree, err := ask.Reply[*messages.GetTreeResponse](c.Call(ctx, "master", &messages.GetTreeRequest{Token: "tok"}, time.Minute))
	if err != nil || !strings.HasPrefix(tree.GetRoot().GetName(), "127.0.0.1:") {
		t.Fatalf("the answer names the peer: %v %v", tree, err)
	}
	if _, err := ask.Reply[*messages.GetTreeResponse](c.Call(ctx, "master", &messages.GetTreeRequest{Token: "wrong"}, time.Minute)); !errors.Is(err, ask.ErrUnauthenticated) {
		t.Fatalf("the actor's refusal: %v", err)
	}
	for _, tc := range []struct {
		name, target string
		msg          proto.Message
		status       int
	}{
		{"a type the target does not take", "master", &messages.ReconfigureRequest{Token: "tok"}, http.StatusForbidden},
		{"a target not listed", "master/botmaster", &messages.GetTreeRequest{Token: "tok"}, http.StatusForbidden},
		{"a listed target that is not running", "not_there", &messages.GetTreeRequest{Token: "tok"}, http.StatusServiceUnavailable},
	} {
		var refused *Refused
		if _, err := c.Call(ctx, tc.target, tc.msg, time.Minute); !errors.As(err, &refused) || refused.Status != tc.status {
			t.Errorf("%s: %v, want a refusal %d", tc.name, err, tc.status)
		}
	}
	if dropped.String() != "not_accepted,not_accepted" {
		t.Errorf("drops counted: %v", dropped)
	}
	// No answer within the caller's timeout: the endpoint gives up as the
	// caller does, and either one's giving up is a timeout.
	if _, err := c.Call(ctx, "master", &messages.StopMasterRequest{Token: "tok"}, 50*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("no answer: %v", err)
	}
	if _, err := NewClient(testkit.RefusingAddr(t)).Call(ctx, "master", &messages.GetTreeRequest{}, time.Minute); !errors.Is(err, ErrUnreachable) {
		t.Errorf("nothing listening: %v", err)
	}
}

// TestCallNoticesALostConnection: an endpoint that hangs up after reading
// the request is a lost connection, not an unreachable master.
func TestCallNoticesALostConnection(t *testing.T) {
	l := testkit.Listen(t)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Read(make([]byte, 4096))
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	if _, err := NewClient(l.Addr().String()).Call(context.Background(), "master", &messages.GetTreeRequest{}, time.Minute); !errors.Is(err, ErrLost) {
		t.Fatalf("%v, want ErrLost", err)
	}
}

// FuzzServer posts arbitrary bodies: the endpoint never panics, and answers
// 200 only to a request it let through.
func FuzzServer(f *testing.F) {
	for _, m := range []proto.Message{&messages.GetTreeRequest{Token: "tok"}, &messages.ReconfigureRequest{Token: "tok"}, &actor.PoisonPill{}} {
		a, _ := anypb.New(m)
		b, _ := proto.Marshal(a)
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0x03, 'a', '/', 'b', 0x12, 0x02, 0xff, 0xff})
	f.Add([]byte("\x0a\x2dtype.googleapis.com/buildmaster.v1.GetTreeRequest\x12\x05\x0a\x03tok"))
	system := quietSystem()
	defer system.Shutdown()
	if _, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return masterActor{} }), "master"); err != nil {
		f.Fatal(err)
	}
	log, _ := testkit.NewLogs()
	srv := NewServer(system, map[string][]proto.Message{"master": {&messages.GetTreeRequest{}}}, log, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest(http.MethodPost, PathPrefix+"master", strings.NewReader(string(body))))
		if w.Code == http.StatusOK {
			var a anypb.Any
			if err := proto.Unmarshal(w.Body.Bytes(), &a); err != nil {
				t.Fatalf("200 with a body that is no Any: %v", err)
			}
			return
		}
		switch w.Code {
		case http.StatusBadRequest, http.StatusForbidden:
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
}

// TestReplyHasItsLength: a large reply says its length (Content-Length,
// not chunks), so that the client reads it into one buffer of that size.
func TestReplyHasItsLength(t *testing.T) {
	addr, _ := serve(t)
	a, err := anypb.New(&messages.GetTreeRequest{Token: "tok", Text: true})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := proto.Marshal(a)
	res, err := http.Post("http://"+addr+PathPrefix+"master", ContentType, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, %v", res.StatusCode, err)
	}
	if res.ContentLength != int64(len(data)) || len(res.TransferEncoding) != 0 || len(data) < 64<<10 {
		t.Fatalf("Content-Length %d, Transfer-Encoding %v, body of %d bytes", res.ContentLength, res.TransferEncoding, len(data))
	}
}
