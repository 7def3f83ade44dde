package eventstream

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

func TestSSEListenAddRemove(t *testing.T) {
	ts := start(t, Options{Limits: Limits{MaxSubscriptions: 2}})
	c := ts.listen(t, "/listen/builds/*/*", nil)
	ts.publish(t, "builds/12/finished", "", `{"buildid":12}`)
	if name, data := c.next(); name != "event" || data != `{"key":["builds","12","finished"],"message":{"buildid":12}}` {
		t.Fatalf("event %q %q", name, data)
	}
	for _, tc := range []struct{ path, want string }{
		{"/sse/add/" + c.id + "/steps/*/finished", "200 ok"},
		{"/sse/add/" + c.id + "/steps/*/finished", "200 ok"}, // again: nothing more
		{"/sse/add/" + c.id + "/logs/*/append", "400 too many paths consumed: at most 2 per consumer"},
		{"/sse/add/" + c.id + "/", "400 invalid path format '': empty path"},
		{"/sse/add/" + c.id + "/a/b/c/d/e/f/g/h/i", "400 invalid path format 'a/b/c/d/e/f/g/h/i': path has 9 segments, more than 8"},
		{"/sse/add/no-such-id/builds/*/*", "400 unknown uuid"},
		{"/sse/add", "400 need uuid"},
		{"/sse/remove/", "400 need uuid"},
		{"/sse/remove/" + c.id + "/workers/*/*", "404 consumer is not listening to this event"},
		{"/sse/remove/" + c.id + "/builds/*/*", "200 ok"},
		{"/sse/remove/" + c.id + "/builds/*/*", "404 consumer is not listening to this event"},
	} {
		if got := ts.answer(t, tc.path); got != tc.want {
			t.Errorf("GET %s: %q, want %q", tc.path, got, tc.want)
		}
	}
	ts.publish(t, "builds/13/finished", "", `{"buildid":13}`) // no longer consumed
	ts.publish(t, "steps/4/finished", "", `{"stepid":4}`)
	if name, data := c.next(); name != "event" || data != `{"key":["steps","4","finished"],"message":{"stepid":4}}` {
		t.Fatalf("event %q %q", name, data)
	}
}

// As in Buildbot, /sse/PATH listens too, and /sse/listen starts with
// nothing consumed.
func TestSSEListenForms(t *testing.T) {
	ts := start(t, Options{})
	bare := ts.listen(t, "/builds/*/new", nil)
	empty := ts.listen(t, "/listen/", nil)
	if bare.id == empty.id {
		t.Fatalf("two consumers with id %s", bare.id)
	}
	if got := ts.answer(t, "/sse/add/"+empty.id+"/builds/*/new"); got != "200 ok" {
		t.Fatal(got)
	}
	ts.publish(t, "builds/1/new", "", `1`)
	for _, c := range []*sseClient{bare, empty} {
		if _, data := c.next(); data != `{"key":["builds","1","new"],"message":1}` {
			t.Errorf("got %q", data)
		}
	}
	if got := ts.answer(t, "/sse/listen/builds/a%20b/new"); got != `400 invalid path format 'builds/a b/new': segment 2: "a b": byte 2 (0x20) cannot appear in a key (printable ASCII only)` {
		t.Errorf("bad listen path: %q", got)
	}
	if st := ts.srv.Stats(); st.SSEClients != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestSSEAuthorization(t *testing.T) {
	ts := start(t, Options{Authorizer: &testAuthz{noPaths: []string{"builders/1/"}, noClasses: map[string]bool{"builders/1": true}}})
	for _, tc := range []struct{ user, path, want string }{
		{"bob", "/sse/listen/builders/1/builds/*/*", "403 not allowed to consume 'builders/1/builds/*/*'"},
		{"nobody", "/sse/listen", `403 user "nobody" may not watch`},
	} {
		resp := ts.get(t, tc.path, user(tc.user))
		body, _ := io.ReadAll(resp.Body)
		if got := fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body))); got != tc.want {
			t.Errorf("%s GET %s: %q, want %q", tc.user, tc.path, got, tc.want)
		}
	}
	bob := ts.listen(t, "/listen/builds/*/*", user("bob"))
	if got := ts.answer(t, "/sse/add/"+bob.id+"/builders/1/builds/*/*"); got != "403 not allowed to consume 'builders/1/builds/*/*'" {
		t.Errorf("bob adding builder 1: %q", got)
	}
	ts.publish(t, "builds/10/new", "builders/1", `10`)
	ts.publish(t, "builds/11/new", "builders/2", `11`)
	if _, data := bob.next(); data != `{"key":["builds","11","new"],"message":11}` {
		t.Errorf("bob got %q", data)
	}
}

// An SSE stream whose writer is held up is dropped past its queue, and
// its response ends.
func TestSSESlowClientDropped(t *testing.T) {
	a := &blockingAuthz{entered: make(chan struct{}), release: make(chan struct{})}
	ts := start(t, Options{Limits: Limits{Buffer: 2}, Authorizer: a})
	c := ts.listen(t, "/listen/builds/*/*", nil)
	stall(t, ts, a, 2)
	for {
		if _, _, err := c.nextErr(); err != nil {
			break // the stream ended
		}
	}
	testkit.Eventually(t, "the server counts the drop", func() bool {
		st := ts.srv.Stats()
		return st.Dropped == 1 && st.SSEClients == 0
	})
	if got := ts.answer(t, "/sse/add/"+c.id+"/steps/*/*"); got != "400 unknown uuid" {
		t.Errorf("add to a dropped consumer: %q", got)
	}
}

func TestSSEServerClose(t *testing.T) {
	ts := start(t, Options{})
	c := ts.listen(t, "/listen", nil)
	ts.srv.Close()
	if _, _, err := c.nextErr(); err == nil {
		t.Fatal("stream goes on after Close")
	}
	if got := ts.answer(t, "/sse/listen"); got != "503 event stream server closed" {
		t.Errorf("listen after Close: %q", got)
	}
}

// An idle SSE stream sends keep-alive comments, which is how a dead
// client is found.
func TestSSEKeepAlive(t *testing.T) {
	ts := start(t, Options{Limits: Limits{PingInterval: time.Millisecond}})
	c := ts.listen(t, "/listen", nil)
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == ": ping\n" {
			break
		}
	}
}
