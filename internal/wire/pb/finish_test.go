package pb

import (
	"context"
	"reflect"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/wire/wiretest"
)

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
	s := wiretest.NewFinishSink()
	if err := c.StartCommand(context.Background(), wireCommand("1", "b1", "shell", map[string]any{"command": "true"}, s)); err != nil {
		t.Fatal(err)
	}
	testkit.Recv(t, "the command's end", s.Seen)
	if got, want := s.Calls(), []string{"finish [header rc elapsed] <nil>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("the Sink got %q, want %q", got, want)
	}
}
