package config

import (
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// bigConfig returns a config with n builders, each with its own worker and
// two steps, and one force scheduler for all of them.
func bigConfig(n int) []byte {
	var b strings.Builder
	b.WriteString("title: big\nworkers:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: worker-%d\n    password: pw-%d\n    max_builds: 1\n", i, i)
	}
	b.WriteString("builders:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: builder-%d\n    workers: [worker-%d]\n    tags: [big]\n    steps:\n"+
			"      - git: {repo_url: /tmp/repo-%d, branch: main}\n"+
			"      - shell: {command: [make, test], timeout: 10m}\n", i, i, i)
	}
	b.WriteString("schedulers:\n  - name: force\n    type: force\n    builders:\n")
	for i := range n {
		fmt.Fprintf(&b, "      - builder-%d\n", i)
	}
	return []byte(b.String())
}

func TestBigConfig(t *testing.T) {
	cfg, err := Load("big.yaml", bigConfig(100))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.GetBuilders()) != 100 || len(cfg.GetWorkers()) != 100 || len(cfg.GetSchedulers()[0].GetBuilders()) != 100 {
		t.Errorf("wrong counts")
	}
}

// BenchmarkLoad loads a config of 10,000 builders, each with its own worker:
// the master re-validates on every reconfig.
func BenchmarkLoad(b *testing.B) {
	data := bigConfig(10_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load("big.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkYAMLBaseline parses the same config into a bare yaml.Node: the
// floor under BenchmarkLoad, which adds decoding, defaults and validation.
func BenchmarkYAMLBaseline(b *testing.B) {
	data := bigConfig(10_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var n yaml.Node
		if err := yaml.Unmarshal(data, &n); err != nil {
			b.Fatal(err)
		}
	}
}
