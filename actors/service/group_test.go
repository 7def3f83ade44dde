package service

import (
	"slices"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/messages"
)

func workerGroup() *NamedGroup[*messages.WorkerConfig] {
	return LeafGroup("worker", "worker:", (*messages.MasterConfig).GetWorkers, (*messages.WorkerConfig).GetName)
}

func workers(specs ...string) *messages.MasterConfig {
	cfg := &messages.MasterConfig{}
	for _, s := range specs {
		name, pw, _ := strings.Cut(s, "=")
		cfg.Workers = append(cfg.Workers, &messages.WorkerConfig{Name: name, Password: pw})
	}
	return cfg
}

func changeStrings(cs []*messages.ServiceChange) []string {
	var out []string
	for _, c := range cs {
		out = append(out, strings.TrimPrefix(c.GetKind().String(), "CHANGE_KIND_")+" "+c.GetPath())
	}
	slices.Sort(out)
	return out
}

func TestNamedGroupPlan(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new *messages.MasterConfig
		want     []string
	}{
		{"nothing", workers(), workers(), nil},
		{"unchanged", workers("a=1", "b=2"), workers("b=2", "a=1"), nil},
		{"added", workers("a=1"), workers("a=1", "b=2"), []string{"ADDED p/worker:b"}},
		{"removed", workers("a=1", "b=2"), workers("b=2"), []string{"REMOVED p/worker:a"}},
		{"changed", workers("a=1"), workers("a=2"), []string{"CHANGED p/worker:a"}},
		{"all at once", workers("a=1", "b=2", "c=3"), workers("b=9", "c=3", "d=4"),
			[]string{"ADDED p/worker:d", "CHANGED p/worker:b", "REMOVED p/worker:a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := changeStrings(workerGroup().Plan("p", tc.old, tc.new))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Plan = %v, want %v", got, tc.want)
			}
		})
	}
}
