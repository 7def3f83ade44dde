package debug_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/debug"
	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/treeview"
	"github.com/buildmaster/buildmaster/messages"
)

// getJSON GETs url into out, failing the test unless the answer is 200.
func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// dbStatus is the status the tree shows for the db service.
func dbStatus(t *testing.T, m *master.Master) string {
	t.Helper()
	var root treeview.Node
	getJSON(t, "http://"+m.DebugAddr+"/debug/tree", &root)
	for _, c := range root.Children {
		if c.Path == paths.DB {
			return c.Status
		}
	}
	t.Fatalf("no %s in the tree", paths.DB)
	return ""
}

// A master whose state directory's disk fills up says "degraded: disk full"
// on /healthz (still 200: it is alive) and on the db node of the tree, and
// goes back to "ok" and "running" by itself once there is space again.
func TestHealthzAndTreeShowADiskFull(t *testing.T) {
	mnt := testkit.Tmpfs(t, "16m")
	www, dbg := testkit.Listen(t), testkit.Listen(t)
	cfg, err := config.Load("test.yaml", fmt.Appendf(nil, "listen: {debug: %q, www: %q, workers: 127.0.0.1:0, workers_pb: 127.0.0.1:0}\n", dbg.Addr(), www.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	m, err := master.Start(master.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), NoRemote: true, DataDir: mnt,
		State: state.Options{SegmentSize: 64 << 10}, Listeners: master.Listeners{WWW: www, Debug: dbg}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop(10 * time.Second)
	healthz := func() debug.Health {
		var h debug.Health
		getJSON(t, "http://"+m.DebugAddr+"/healthz", &h)
		return h
	}
	if h := healthz(); h.Status != "ok" {
		t.Fatalf("healthz %+v on a fresh master", h)
	}
	n := 0
	write := func() error {
		n++
		_, err := db.Call(context.Background(), m.RT.System, &messages.Command{Kind: &messages.Command_AddChange{AddChange: &messages.AddChange{
			Change: &messages.Change{Author: fmt.Sprintf("dev-%d", n), Branch: "main", Repository: "r", WhenTimestamp: int64(n)}}}})
		return err
	}

	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	for buf := make([]byte, 4096); err == nil; {
		_, err = f.Write(buf)
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v", err)
	}
	for i := 0; write() == nil; i++ {
		if i == 20000 {
			t.Fatal("20000 writes on a full disk all succeeded")
		}
	}
	if h := healthz(); h.Status != "degraded: disk full" || h.Reason == "" || h.Since.IsZero() {
		t.Errorf("healthz %+v on a full disk, want status degraded: disk full, the reason and since when", h)
	}
	if s := dbStatus(t, m); s != "degraded: disk full" {
		t.Errorf("db in the tree: %q on a full disk", s)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testkit.Retry(t, write)
	testkit.Eventually(t, "healthz ok once the disk has space", func() bool { return healthz().Status == "ok" })
	if s := dbStatus(t, m); s != "running" {
		t.Errorf("db in the tree: %q once the disk has space", s)
	}
}
