package config

import (
	"testing"

	"github.com/buildmaster/buildmaster/messages"
)

func TestFingerprints(t *testing.T) {
	a, b := []byte("title: a\n"), []byte("title: b\n")
	if x, y := FingerprintYAML(a), FingerprintYAML(a); x != y || FingerprintYAML(a) == FingerprintYAML(b) {
		t.Fatal("YAML fingerprints do not tell inputs apart")
	}
	m1 := &messages.MasterConfig{Title: "a", Caches: map[string]int32{"x": 1, "y": 2, "z": 3}}
	m2 := &messages.MasterConfig{Title: "a", Caches: map[string]int32{"z": 3, "y": 2, "x": 1}}
	if FingerprintMessage(m1) != FingerprintMessage(m2) {
		t.Fatal("equal messages fingerprint differently (map order)")
	}
	if FingerprintMessage(m1) == FingerprintMessage(&messages.MasterConfig{Title: "b"}) {
		t.Fatal("different messages share a fingerprint")
	}
	if FingerprintMessage(&messages.MasterConfig{}) == FingerprintYAML(nil) {
		t.Fatal("a message and a text share a fingerprint")
	}
}
