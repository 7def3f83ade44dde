package botmaster_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// TestBuildsLogThroughTheirBuilder: every build's lines name its builder,
// and the logger that names it is the builder's, made once: its bound
// attributes are not built again for every build.
func TestBuildsLogThroughTheirBuilder(t *testing.T) {
	h := &attrsHandler{shared: &attrsCounts{}}
	cfg, err := config.Load("t.yaml", fmt.Appendf(nil, "listen: {debug: 127.0.0.1:0, www: 127.0.0.1:0, workers: 127.0.0.1:0, workers_pb: 127.0.0.1:0}\nmetrics: {log_interval: 0s}\n%s", benchConfig(1, 1, 1, 1, "")))
	if err != nil {
		t.Fatal(err)
	}
	m, err := master.Start(master.Options{Config: cfg, Token: "t", Log: slog.New(h), NoRemote: true, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop(30 * time.Second)
	f := &fakeConn{worker: "w000", instant: true}
	if _, err := m.RT.System.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return f }), "fakeconn:"+f.worker); err != nil {
		t.Fatal(err)
	}
	const builds = 5
	queue(t, m, 1, 1, builds)
	testkit.Retry(t, func() error {
		m.RT.System.Root.Send(actor.NewPID(m.RT.System.Address(), paths.BRD), &messages.MaybeStartBuilds{})
		if n := h.shared.finished(); n != builds {
			return fmt.Errorf("%d builds finished, want %d", n, builds)
		}
		return nil
	})
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	if h.shared.unnamed > 0 {
		t.Errorf("%d 'build finished' lines without builder=b0000", h.shared.unnamed)
	}
	if h.shared.bound != 1 {
		t.Errorf("builder=b0000 bound %d times for %d builds, want once", h.shared.bound, builds)
	}
}

// attrsHandler counts the bindings of builder=b0000 (WithAttrs) and the
// "build finished" lines, and which of those lack it.
type attrsHandler struct {
	attrs  []slog.Attr
	shared *attrsCounts
}

type attrsCounts struct {
	mu                   sync.Mutex
	bound, done, unnamed int
}

func (c *attrsCounts) finished() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

func named(attrs []slog.Attr) bool {
	return slices.ContainsFunc(attrs, func(a slog.Attr) bool { return a.Key == "builder" && a.Value.String() == "b0000" })
}

func (h *attrsHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *attrsHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "build finished" {
		return nil
	}
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	h.shared.done++
	if !named(h.attrs) {
		h.shared.unnamed++
	}
	return nil
}

func (h *attrsHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if named(attrs) {
		h.shared.mu.Lock()
		h.shared.bound++
		h.shared.mu.Unlock()
	}
	return &attrsHandler{attrs: append(slices.Clone(h.attrs), attrs...), shared: h.shared}
}

func (h *attrsHandler) WithGroup(string) slog.Handler { return h }
