package config

import (
	"regexp"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/buildmaster/buildmaster/messages"
)

func TestExampleLoads(t *testing.T) {
	name, data := Example()
	if name != "builtin:master.yaml" {
		t.Errorf("name = %q", name)
	}
	if _, err := Load(name, data); err != nil {
		t.Fatalf("the example config does not load:\n%v", err)
	}
	cfg, src, err := Parse(name, data)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cfg.GetWorkers()); n != 2 {
		t.Errorf("%d workers, want 2", n)
	}
	if n := len(cfg.GetBuilders()); n != 3 {
		t.Errorf("%d builders, want 3", n)
	}
	if n := len(cfg.GetChangeSources()); n != 0 {
		t.Errorf("change sources = %v, want none (a git poller of a repository that is not there logs errors)", cfg.GetChangeSources())
	}
	types := map[messages.SchedulerType]int{}
	for _, s := range cfg.GetSchedulers() {
		types[s.GetType()]++
	}
	for _, typ := range []messages.SchedulerType{
		messages.SchedulerType_SCHEDULER_TYPE_FORCE,
		messages.SchedulerType_SCHEDULER_TYPE_SINGLE_BRANCH,
		messages.SchedulerType_SCHEDULER_TYPE_TRIGGERABLE,
	} {
		if types[typ] != 1 {
			t.Errorf("%d %v schedulers, want 1", types[typ], typ)
		}
	}
	if len(cfg.GetSchedulers()) != 3 {
		t.Errorf("%d schedulers, want 3 (none that builds by itself)", len(cfg.GetSchedulers()))
	}
	kinds := map[string]bool{}
	for _, b := range cfg.GetBuilders() {
		for _, s := range b.GetSteps() {
			kinds[stepKind(s)] = true
		}
	}
	if !kinds["shell"] || !kinds["git"] {
		t.Errorf("step kinds %v, want shell and git at least", kinds)
	}
	if cfg.GetDebug() == nil || cfg.GetDebug().GetActions() {
		t.Error("debug.actions must be written, and false")
	}
	if line, _ := src.Pos("builders[1].steps[0].git.repo_url"); line == 0 {
		t.Error("no position for the git step's repo_url")
	}

	// Example returns a copy.
	data[0] = 'X'
	if _, again := Example(); again[0] == 'X' {
		t.Error("Example returned its embedded bytes, not a copy")
	}
}

// The example documents every key of the schema: each field name appears in
// it as "name:", written or in a comment.
func TestExampleDocumentsEveryKey(t *testing.T) {
	_, data := Example()
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] || md.FullName() == durationName {
			return
		}
		seen[md.FullName()] = true
		for i := range md.Fields().Len() {
			fd := md.Fields().Get(i)
			if !regexp.MustCompile(`\b` + string(fd.Name()) + `:`).Match(data) {
				t.Errorf("the example does not document %s", fd.FullName())
			}
			if fd.IsMap() {
				fd = fd.MapValue()
			}
			if fd.Message() != nil {
				walk(fd.Message())
			}
		}
	}
	walk((&messages.MasterConfig{}).ProtoReflect().Descriptor())
}
