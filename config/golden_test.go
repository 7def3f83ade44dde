package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

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
			testkit.Golden(t, strings.TrimSuffix(input, ".yaml")+".golden", []byte(err.Error()+"\n"))
		})
	}
}
