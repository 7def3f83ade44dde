package messages

import (
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
)

func TestRedactedClearsSecretsAtAnyDepth(t *testing.T) {
	cfg := &MasterConfig{
		Workers: []*WorkerConfig{{Name: "w1", Password: "hunter2"}},
		ChangeSources: []*ChangeSourceConfig{{Name: "hook", Kind: &ChangeSourceConfig_ChangeHook{
			ChangeHook: &ChangeHookConfig{Dialect: "github", Secret: "s3cret"},
		}}},
	}
	got := Redacted(cfg).(*MasterConfig)
	if got.Workers[0].Password != "" || got.ChangeSources[0].GetChangeHook().Secret != "" {
		t.Fatalf("secrets survived: %s", prototext.Format(got))
	}
	if got.Workers[0].Name != "w1" || got.ChangeSources[0].GetChangeHook().Dialect != "github" {
		t.Fatalf("redaction cleared non-secret fields: %s", prototext.Format(got))
	}
	if cfg.Workers[0].Password != "hunter2" {
		t.Fatal("Redacted changed its argument")
	}
}
