package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// FuzzLoad feeds arbitrary bytes to Load. It must never panic, and its
// result must be consistent: a config it accepts validates again cleanly,
// and every error it reports has a message and names the file. The seed
// corpus is testdata/fuzz/FuzzLoad plus the example and testdata/bad.
func FuzzLoad(f *testing.F) {
	_, example := Example()
	f.Add(example)
	bad, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, path := range bad {
		if data, err := os.ReadFile(path); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Load("fuzz.yaml", data)
		if err != nil {
			if cfg != nil {
				t.Fatal("Load returned a config with an error")
			}
			errs, ok := err.(Errors)
			if !ok || len(errs) == 0 {
				t.Fatalf("Load returned %T %v, want non-empty Errors", err, err)
			}
			for _, e := range errs {
				if e.File != "fuzz.yaml" || e.Msg == "" || strings.HasPrefix(e.Msg, "internal error") {
					t.Fatalf("bad error %#v", e)
				}
			}
			_ = err.Error()
			return
		}
		if errs := Validate(cfg, nil); len(errs) != 0 {
			t.Fatalf("accepted config fails Validate: %v", errs)
		}
		again := proto.Clone(cfg).(*messages.MasterConfig)
		ApplyDefaults(again)
		if !proto.Equal(again, cfg) {
			t.Fatal("ApplyDefaults is not idempotent")
		}
	})
}
