package config

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/messages"
)

func TestApplyDefaults(t *testing.T) {
	cfg := &messages.MasterConfig{
		Builders: []*messages.BuilderConfig{{
			Name: "b",
			Steps: []*messages.StepConfig{
				{Kind: &messages.StepConfig_Shell{Shell: &messages.ShellStep{}}},
				{Kind: &messages.StepConfig_Git{Git: &messages.GitStep{}}},
				{Kind: &messages.StepConfig_SetProperty{SetProperty: &messages.SetPropertyStep{}}},
				{Kind: &messages.StepConfig_Trigger{Trigger: &messages.TriggerStep{}}},
				{Name: "mine", Kind: &messages.StepConfig_Shell{Shell: &messages.ShellStep{}}},
				{},
			},
		}, {Name: "c", Builddir: "elsewhere"}},
	}
	ApplyDefaults(cfg)
	want := &messages.MasterConfig{
		Listen: &messages.ListenConfig{Remote: "127.0.0.1:8012", Www: "127.0.0.1:8010", Debug: "127.0.0.1:8011",
			Workers: "127.0.0.1:9990", WorkersPb: "127.0.0.1:9989"},
		UploadsDir:  "uploads",
		Supervision: &messages.SupervisionConfig{MaxRestarts: new(int32(10)), Within: durationpb.New(time.Minute)},
		Metrics:     &messages.MetricsConfig{LogInterval: durationpb.New(time.Minute)},
		Caches:      map[string]int32{"Builds": 100, "Changes": 100},
		Http:        defaultHTTP(),
		Builders: []*messages.BuilderConfig{{
			Name: "b", Builddir: "b",
			Steps: []*messages.StepConfig{
				{Name: "shell", Kind: &messages.StepConfig_Shell{Shell: &messages.ShellStep{}}},
				{Name: "git", Kind: &messages.StepConfig_Git{Git: &messages.GitStep{}}},
				{Name: "set_property", Kind: &messages.StepConfig_SetProperty{SetProperty: &messages.SetPropertyStep{}}},
				{Name: "trigger", Kind: &messages.StepConfig_Trigger{Trigger: &messages.TriggerStep{}}},
				{Name: "mine", Kind: &messages.StepConfig_Shell{Shell: &messages.ShellStep{}}},
				{},
			},
		}, {Name: "c", Builddir: "elsewhere"}},
	}
	if !proto.Equal(cfg, want) {
		t.Errorf("ApplyDefaults =\n%v\nwant\n%v", cfg, want)
	}
	again := proto.Clone(cfg).(*messages.MasterConfig)
	ApplyDefaults(again)
	if !proto.Equal(again, cfg) {
		t.Error("ApplyDefaults is not idempotent")
	}
	ApplyDefaults(nil) // must not panic
}

// Values that are set, including an explicit 0s report interval and a cache
// size of 0 (which Validate then rejects), are kept.
func TestApplyDefaultsKeepsSetValues(t *testing.T) {
	cfg, err := Load("test.yaml", []byte(`
listen: {www: 0.0.0.0:80}
http: {max_body_bytes: 10, max_connections: 5, read_timeout: 1s}
supervision: {max_restarts: 3, within: 5s}
metrics: {log_interval: 0s}
caches: {Builds: 1, Other: 4}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &messages.MasterConfig{
		Listen: &messages.ListenConfig{Remote: DefaultRemoteAddr, Www: "0.0.0.0:80", Debug: DefaultDebugAddr,
			Workers: DefaultWorkersAddr, WorkersPb: DefaultWorkersPBAddr},
		UploadsDir:  DefaultUploadsDir,
		Supervision: &messages.SupervisionConfig{MaxRestarts: new(int32(3)), Within: durationpb.New(5 * time.Second)},
		Metrics:     &messages.MetricsConfig{LogInterval: durationpb.New(0)},
		Caches:      map[string]int32{"Builds": 1, "Changes": 100, "Other": 4},
		Http:        defaultHTTP(),
	}
	want.Http.MaxBodyBytes, want.Http.MaxConnections, want.Http.ReadTimeout = new(int64(10)), new(int32(5)), durationpb.New(time.Second)
	if !proto.Equal(cfg, want) {
		t.Errorf("Load =\n%v\nwant\n%v", cfg, want)
	}
	_, err = Load("test.yaml", []byte("caches: {Changes: 0}\n"))
	if err == nil {
		t.Error("a zero cache size was replaced by the default instead of rejected")
	}
}

// defaultHTTP is http as ApplyDefaults fills it in.
func defaultHTTP() *messages.HttpConfig {
	return &messages.HttpConfig{
		MaxBodyBytes: new(int64(DefaultMaxBodyBytes)), ReadHeaderTimeout: durationpb.New(DefaultReadHeaderTimeout),
		ReadTimeout: durationpb.New(DefaultReadTimeout), WriteTimeout: durationpb.New(DefaultWriteTimeout),
		IdleTimeout: durationpb.New(DefaultIdleTimeout),
	}
}

// A value written as the zero of its type where the default is not zero is
// kept as written (the field has presence), not taken for unset.
func TestExplicitZerosAreKept(t *testing.T) {
	cfg, err := Load("test.yaml", []byte(`
workers: [{name: w}]
builders:
  - name: b
    workers: [w]
    steps:
      - {flunk_on_failure: false, shell: {command: [x]}}
      - {shell: {command: [x]}}
supervision: {max_restarts: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	steps := cfg.GetBuilders()[0].GetSteps()
	if f := steps[0].FlunkOnFailure; f == nil || *f {
		t.Errorf("flunk_on_failure: false read as %v", f)
	}
	if f := steps[1].FlunkOnFailure; f != nil {
		t.Errorf("flunk_on_failure unset read as %v", *f)
	}
	if r := cfg.GetSupervision().MaxRestarts; r == nil || *r != 0 {
		t.Errorf("max_restarts: 0 read as %v", r)
	}
}
