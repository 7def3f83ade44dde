package pb

import (
	"context"
	"testing"
)

// TestUpdatesOfTwoCommandsThatCameTogetherStayApart: updates of
// two commands that come in one read are each handed to their own
// command's Sink. No other test fails when hold and message merge
// updates across commands (the first command's Sink then gets both).
func TestUpdatesOfTwoCommandsThatCameTogetherStayApart(t *testing.T) {
	_, w, c, _ := loggedIn(t, Config{})
	ctx := context.Background()
	started := make(chan RemoteRef, 2)
	w.bot.start = func(cmd RemoteRef, _, _ string, _ map[string]any) { started <- cmd }
	s1, s2 := newSink(), newSink()
	if err := c.StartCommand(ctx, wireCommand("1", "b1", "shell", nil, s1)); err != nil {
		t.Fatal(err)
	}
	if err := c.StartCommand(ctx, wireCommand("2", "b1", "shell", nil, s2)); err != nil {
		t.Fatal(err)
	}
	k1, k2 := <-started, <-started
	update := func(text string) Tuple { return Tuple{[]any{[]any{map[string]any{"stdout": text}, 0}}} }
	chans := w.sendEachTogether([]RemoteRef{k1, k2, k1, k2},
		[]Tuple{update("one"), update("two"), {nil}, {nil}},
		[]string{"update", "update", "complete", "complete"})
	for _, ch := range chans {
		if r := <-ch; r.err != nil {
			t.Fatal(r.err)
		}
	}
	for _, s := range []*sink{s1, s2} {
		if err := s.wait(t); err != nil {
			t.Fatal(err)
		}
	}
	if g1, g2 := s1.text("stdout"), s2.text("stdout"); g1 != "one" || g2 != "two" {
		t.Errorf("stdout: first command %q, second %q; want one, two", g1, g2)
	}
}
