package changes_test

import (
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/changes"
	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

const token = mastertest.Token

// start runs an in-process master whose state lives in dir ("" for ephemeral).
func start(t *testing.T, dir string) *master.Master {
	t.Helper()
	return mastertest.Start(t, "", dir, nil)
}

func send(t *testing.T, m *master.Master, req *messages.SendChangeRequest) proto.Message {
	t.Helper()
	pid := actor.NewPID(m.RT.System.Address(), paths.Changes)
	res, err := m.RT.System.Root.RequestFuture(pid, req, 30*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	return res.(proto.Message)
}

func TestSendChange(t *testing.T) {
	m := start(t, t.TempDir())
	before := time.Now().Unix()
	in := &messages.Change{Author: "alice", Branch: "main", Revision: "abc", Files: []string{"a.c"},
		Properties: []*messages.Property{{Name: "k", ValueJson: `"v"`, Source: "Change"}}}
	res := send(t, m, &messages.SendChangeRequest{Token: token, Change: in})
	ok, isOK := res.(*messages.SendChangeResponse)
	if !isOK || ok.GetChangeid() != 1 {
		t.Fatalf("reply %T %v", res, res)
	}
	got, _ := state.Lookup(m.RT.DB.Read(), state.TableChanges, 1).(*messages.Change)
	if got == nil || got.Author != "alice" || got.Revision != "abc" || got.WhenTimestamp < before || got.Sourcestampid == 0 {
		t.Fatalf("stored %v", got)
	}
	if in.WhenTimestamp != 0 {
		t.Fatal("the request's change was modified")
	}
	// An explicit time is kept.
	res = send(t, m, &messages.SendChangeRequest{Token: token, Change: &messages.Change{Author: "bob", WhenTimestamp: 1234}})
	got, _ = state.Lookup(m.RT.DB.Read(), state.TableChanges, res.(*messages.SendChangeResponse).GetChangeid()).(*messages.Change)
	if got.GetWhenTimestamp() != 1234 {
		t.Fatalf("stored %v", got)
	}
}

// TestSendChangeRefusals: each bad request is answered with a ControlError
// saying what is wrong, and writes nothing.
func TestSendChangeRefusals(t *testing.T) {
	m := start(t, "")
	unauth, invalid := messages.ControlErrorCode_CONTROL_ERROR_CODE_UNAUTHENTICATED, messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT
	for _, c := range []struct {
		name string
		req  *messages.SendChangeRequest
		code messages.ControlErrorCode
		want string
	}{
		{"no token", &messages.SendChangeRequest{Change: &messages.Change{Author: "a"}}, unauth, "admin token"},
		{"wrong token", &messages.SendChangeRequest{Token: "nope", Change: &messages.Change{Author: "a"}}, unauth, "admin token"},
		{"no change", &messages.SendChangeRequest{Token: token}, invalid, "carries no change"},
		{"no author", &messages.SendChangeRequest{Token: token, Change: &messages.Change{Branch: "b"}}, invalid, "change.author is required"},
		{"oversized comments", &messages.SendChangeRequest{Token: token, Change: &messages.Change{Author: "a",
			Comments: strings.Repeat("x", state.MaxCommentsBytes+1)}}, invalid, "change.comments is 65537 bytes, limit 65536"},
		{"changeid set", &messages.SendChangeRequest{Token: token, Change: &messages.Change{Author: "a", Changeid: 7}}, invalid, "assigned by the database"},
		{"bad property", &messages.SendChangeRequest{Token: token, Change: &messages.Change{Author: "a",
			Properties: []*messages.Property{{Name: "p", ValueJson: "{"}}}}, invalid, "change.properties"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := send(t, m, c.req)
			ce, ok := res.(*messages.ControlError)
			if !ok || ce.GetCode() != c.code || !strings.Contains(ce.GetMessage(), c.want) {
				t.Fatalf("reply %T %v; want %v containing %q", res, res, c.code, c.want)
			}
			if n := state.Count(m.RT.DB.Read(), state.TableChanges); n != 0 {
				t.Fatalf("%d changes written", n)
			}
		})
	}
}

// TestSendChangeAfterStoreClosed: a store failure is reported as such,
// not as the sender's fault.
func TestSendChangeAfterStoreClosed(t *testing.T) {
	m := start(t, "")
	m.RT.DB.Close()
	res := send(t, m, &messages.SendChangeRequest{Token: token, Change: &messages.Change{Author: "a"}})
	ce, ok := res.(*messages.ControlError)
	if !ok || ce.GetCode() != messages.ControlErrorCode_CONTROL_ERROR_CODE_FAILED || !strings.Contains(ce.GetMessage(), "closed") {
		t.Fatalf("reply %T %v", res, res)
	}
}

// TestChangesSurviveARestart: the state is opened before the tree and
// closed after it, and the master finds itself again by name.
func TestChangesSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	m := start(t, dir)
	send(t, m, &messages.SendChangeRequest{Token: token, Change: &messages.Change{Author: "alice"}})
	if err := m.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	m = start(t, dir)
	txn := m.RT.DB.Read()
	c, _ := state.Lookup(txn, state.TableChanges, 1).(*messages.Change)
	if c.GetAuthor() != "alice" || state.Count(txn, state.TableMasters) != 1 {
		t.Fatalf("after restart: change %v, %d masters", c, state.Count(txn, state.TableMasters))
	}
	res := send(t, m, &messages.SendChangeRequest{Token: token, Change: &messages.Change{Author: "bob"}})
	if res.(*messages.SendChangeResponse).GetChangeid() != 2 {
		t.Fatalf("reply %v", res)
	}
}

// TestAddChangeWithState: a change source's AddChange with its state is
// one command: both are written, or, when the state is bad, neither, and
// the refusal names the state.
func TestAddChangeWithState(t *testing.T) {
	m := start(t, t.TempDir())
	add := func(c *messages.Change, v string) proto.Message {
		t.Helper()
		pid := actor.NewPID(m.RT.System.Address(), paths.Changes)
		res, err := m.RT.System.Root.RequestFuture(pid, &messages.AddChange{Change: c, State: &messages.SetObjectState{
			ObjectName: "poll", ClassName: changes.GitPollerClass, Name: changes.LastRevState, ValueJson: v}}, 30*time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		return res.(proto.Message)
	}
	res := add(&messages.Change{Author: "alice", Branch: "main", Revision: "abc"}, `{"main":"abc"}`)
	if r, ok := res.(*messages.SendChangeResponse); !ok || r.GetChangeid() != 1 {
		t.Fatalf("reply %T %v", res, res)
	}
	txn := m.RT.DB.Read()
	v, ok := state.ObjectState(txn, "poll", changes.GitPollerClass, changes.LastRevState)
	if c, _ := state.Lookup(txn, state.TableChanges, 1).(*messages.Change); c.GetRevision() != "abc" || !ok || v != `{"main":"abc"}` {
		t.Fatalf("change %v, state %q %v", c, v, ok)
	}

	res = add(&messages.Change{Author: "alice", Branch: "main", Revision: "def"}, `{"main":`)
	ce, isErr := res.(*messages.ControlError)
	if !isErr || ce.GetCode() != messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT ||
		!strings.Contains(ce.GetMessage(), "add_change: state:") || !strings.Contains(ce.GetMessage(), "value_json is not valid JSON") {
		t.Fatalf("reply %T %v", res, res)
	}
	txn = m.RT.DB.Read()
	v, _ = state.ObjectState(txn, "poll", changes.GitPollerClass, changes.LastRevState)
	if n := state.Count(txn, state.TableChanges); n != 1 || v != `{"main":"abc"}` {
		t.Fatalf("a refused AddChange wrote: %d changes, state %q", n, v)
	}
}
