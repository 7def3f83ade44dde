package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the testdata/bad/*.golden files")

// TestGolden loads every testdata/bad/*.yaml and compares the full error list
// with the .golden file next to it. Run with -update to rewrite the goldens.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, input := range inputs {
		t.Run(filepath.Base(input), func(t *testing.T) {
			data, err := os.ReadFile(input)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Load(filepath.Base(input), data)
			if err == nil {
				t.Fatal("Load succeeded; a bad config must fail")
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(input, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s (run go test -update to accept)\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}
