// Package mastertest starts in-process masters for the tests of the
// services: a real master (real actors, real state), without its remote
// endpoint, serving HTTP and the worker protocols on listeners bound here
// on 127.0.0.1:0.
package mastertest

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

// Token is the admin token of the masters Start starts.
const Token = "test-token"

// Start starts a master on the config body (YAML without listen, which
// Start adds: the addresses of the listeners it binds and hands over),
// keeping its state in dataDir ("" for ephemeral), logging to log (nil:
// nowhere). The master is stopped when the test ends.
func Start(t testing.TB, body, dataDir string, log *slog.Logger) *master.Master {
	t.Helper()
	www, debug, workers, workersPB := testkit.Listen(t), testkit.Listen(t), testkit.Listen(t), testkit.Listen(t)
	cfg, err := config.Load("test.yaml", fmt.Appendf(nil, "listen: {debug: %q, www: %q, workers: %q, workers_pb: %q}\n%s",
		debug.Addr(), www.Addr(), workers.Addr(), workersPB.Addr(), body))
	if err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := master.Start(master.Options{Config: cfg, Token: Token, Log: log, NoRemote: true, DataDir: dataDir, Ephemeral: dataDir == "",
		Listeners: master.Listeners{WWW: www, Debug: debug, Workers: workers, WorkersPB: workersPB}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(10 * time.Second) })
	return m
}
