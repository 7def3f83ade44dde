package config

import (
	"testing"

	"github.com/buildmaster/buildmaster/messages"
)

func TestLiveChangeErrors(t *testing.T) {
	old, err := Load("old.yaml", []byte("listen: {www: 127.0.0.1:8010}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, src, err := Parse("new.yaml", []byte("title: t\nlisten:\n  www: 127.0.0.1:8010\n  debug: 127.0.0.1:9000\n"))
	if err != nil {
		t.Fatal(err)
	}
	ApplyDefaults(cfg)
	errs := LiveChangeErrors(old, cfg, src)
	if len(errs) != 1 {
		t.Fatalf("got %v, want one error", errs)
	}
	want := `new.yaml:4:3: listen.debug cannot change while the master runs (was "127.0.0.1:8011", now "127.0.0.1:9000"); restart the master to change it`
	if errs[0].Path != "listen.debug" || errs[0].Error() != want {
		t.Errorf("got %q at %s\nwant %q", errs[0].Error(), errs[0].Path, want)
	}

	// Leaving a key out means its default; other changes are allowed,
	// http.max_body_bytes among them.
	same, src2, _ := Parse("same.yaml", []byte("title: other\nworkers: [{name: w}]\nhttp: {max_body_bytes: 5, read_timeout: 60s}\n"))
	ApplyDefaults(same)
	if errs := LiveChangeErrors(old, same, src2); len(errs) != 0 {
		t.Errorf("unexpected errors: %v", errs)
	}

	// The HTTP listeners' other bounds are set when they are bound.
	bounds, src3, _ := Parse("bounds.yaml", []byte("http:\n  max_connections: 9\n  idle_timeout: 1s\n"))
	ApplyDefaults(bounds)
	errs = LiveChangeErrors(old, bounds, src3)
	if len(errs) != 2 || errs[1].Path != "http.idle_timeout" || errs[0].Error() !=
		`bounds.yaml:2:3: http.max_connections cannot change while the master runs (was "0", now "9"); restart the master to change it` {
		t.Errorf("http bounds: got %v", errs)
	}

	// So is the bound on the worker listeners' strangers.
	strangers, src4, _ := Parse("strangers.yaml", []byte("listen:\n  workers_max_unauthenticated: 7\n"))
	ApplyDefaults(strangers)
	if errs := LiveChangeErrors(old, strangers, src4); len(errs) != 1 || errs[0].Error() !=
		`strangers.yaml:2:3: listen.workers_max_unauthenticated cannot change while the master runs (was "0", now "7"); restart the master to change it` {
		t.Errorf("workers_max_unauthenticated: got %v", errs)
	}

	// Every listener is checked, without a Source too.
	moved := &messages.MasterConfig{Listen: &messages.ListenConfig{
		Remote: "127.0.0.1:1", Www: "127.0.0.1:2", Debug: "127.0.0.1:3",
	}}
	ApplyDefaults(moved)
	errs = LiveChangeErrors(old, moved, nil)
	if len(errs) != 3 || errs[0].Line != 0 || errs[0].Path != "listen.debug" || errs[2].Path != "listen.www" {
		t.Errorf("got %v, want three errors without lines", errs)
	}
}
