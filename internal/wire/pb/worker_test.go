package pb

import (
	"context"
	"testing"
)

// TestRealWorkerShell runs Debian's buildbot-worker against the Server:
// login, Info, SetBuilderList and a shell command.
func TestRealWorkerShell(t *testing.T) {
	ts := startServer(t, Config{})
	startWorker(t, ts.addr, "w1", "pass1")
	c := ts.next(t)
	ctx := context.Background()
	if err := c.Print(ctx, "attached"); err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("info: %v", info["admin"])
	if err := c.SetBuilderList(ctx, map[string]string{"b1": "b1"}); err != nil {
		t.Fatal(err)
	}
	s := newSink()
	err = c.StartCommand(ctx, wireCommand("1", "b1", "shell", map[string]any{
		"workdir": "build", "command": []string{"echo", "hello"},
	}, s))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.wait(t); err != nil {
		t.Fatal(err)
	}
	if got := s.text("stdout"); got != "hello\n" {
		t.Errorf("stdout %q", got)
	}
	if rc := s.rc(t); rc != 0 {
		t.Errorf("rc %d", rc)
	}
}
