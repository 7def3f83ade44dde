package pb

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/wire"
)

// finishSink records its calls in order; it is a wire.Finisher.
type finishSink struct {
	mu    sync.Mutex
	calls []string
	seen  chan string // each call as it is made
}

func newFinishSink() *finishSink { return &finishSink{seen: make(chan string, 8)} }

func (s *finishSink) record(call string) {
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	s.seen <- call
}

func (s *finishSink) Update(us []wire.Update) { s.record(fmt.Sprintf("update %v", updateKeys(us))) }
func (s *finishSink) Complete(err error)      { s.record(fmt.Sprintf("complete %v", err)) }
func (s *finishSink) Finish(us []wire.Update, err error) {
	s.record(fmt.Sprintf("finish %v %v", updateKeys(us), err))
}

func (s *finishSink) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func updateKeys(us []wire.Update) []string {
	keys := make([]string, len(us))
	for i, u := range us {
		keys[i] = u.Key
	}
	return keys
}

// A stock worker's last updates, sent with the complete, reach the Sink
// with the end of the command, in one Finish: its build gets one message
// instead of two.
func TestLastUpdatesGoWithTheComplete(t *testing.T) {
	_, w, c, _ := loggedIn(t, Config{})
	w.bot.start = func(cmd RemoteRef, _, _ string, _ map[string]any) {
		update := func(key string, v any) Tuple { return Tuple{[]any{[]any{map[string]any{key: v}, 0}}} }
		w.sendTogether(cmd,
			[]Tuple{update("header", "true\n"), update("rc", 0), update("elapsed", 0.5), {nil}},
			[]string{"update", "update", "update", "complete"})
	}
	s := newFinishSink()
	if err := c.StartCommand(context.Background(), wireCommand("1", "b1", "shell", map[string]any{"command": "true"}, s)); err != nil {
		t.Fatal(err)
	}
	testkit.Recv(t, "the command's end", s.seen)
	if got, want := s.Calls(), []string{"finish [header rc elapsed] <nil>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("the Sink got %q, want %q", got, want)
	}
}
