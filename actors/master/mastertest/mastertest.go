// Package mastertest starts in-process masters for the tests of the
// services: a real master (real actors, real state), without its remote
// endpoint, serving HTTP and the worker protocols on listeners bound here
// on 127.0.0.1:0.
package mastertest

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// Token is the admin token of the masters Start starts.
const Token = "test-token"

// Start starts a master on the config body (YAML without listen, which
// Start adds: the addresses of the listeners it binds and hands over),
// keeping its state in dataDir ("" for ephemeral), logging to log (nil:
// nowhere); each of with, in order, may change the master's Options (a
// clock). The master is stopped when the test ends.
func Start(t testing.TB, body, dataDir string, log *slog.Logger, with ...func(*master.Options)) *master.Master {
	t.Helper()
	return StartFunc(t, func(string) string { return body }, dataDir, log, with...)
}

// StartFunc is Start for a config that names the www listener's address
// (an OAuth2 redirect_url): body is given it.
func StartFunc(t testing.TB, body func(www string) string, dataDir string, log *slog.Logger, with ...func(*master.Options)) *master.Master {
	t.Helper()
	www, debug, workers, workersPB := testkit.Listen(t), testkit.Listen(t), testkit.Listen(t), testkit.Listen(t)
	cfg, err := config.Load("test.yaml", fmt.Appendf(nil, "%s\n%s", listen(debug.Addr().String(), www.Addr().String(),
		workers.Addr().String(), workersPB.Addr().String()), body(www.Addr().String())))
	if err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := master.Options{Config: cfg, Token: Token, Log: log, NoRemote: true, DataDir: dataDir, Ephemeral: dataDir == "",
		Listeners: master.Listeners{WWW: www, Debug: debug, Workers: workers, WorkersPB: workersPB}}
	for _, f := range with {
		f(&opts)
	}
	m, err := master.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(10 * time.Second) })
	return m
}

// RefusalsStandStill is an option of Start: the master's refusal budget
// (Runtime.Refusals) runs on a clock that stands still, so a test counts
// the lines it logs exactly: each source's burst, then none.
func RefusalsStandStill(o *master.Options) {
	instant := time.Unix(1e9, 0)
	o.RefusalsNow = func() time.Time { return instant }
}

func listen(debug, www, workers, workersPB string) string {
	return fmt.Sprintf("listen: {debug: %q, www: %q, workers: %q, workers_pb: %q}", debug, www, workers, workersPB)
}

// Reconfig reconfigures m with body (YAML without listen, as Start's) and
// fails the test unless the config is applied.
func Reconfig(t testing.TB, m *master.Master, body string) {
	t.Helper()
	yaml := fmt.Appendf(nil, "%s\n%s", listen(m.DebugAddr, m.WWWAddr, m.WorkersAddr, m.WorkersPBAddr), body)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.DefaultTimeout)
	defer cancel()
	res, err := m.Request(ctx, &messages.ReconfigureRequest{Token: Token, ConfigName: "test.yaml", ConfigYaml: yaml})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := res.(*messages.ReconfigureResponse); !ok || len(r.GetErrors()) > 0 {
		t.Fatalf("reconfig: %v", res)
	}
}
