package config

import (
	"fmt"
	"strings"
	"testing"
)

// adversarialInputs are hostile or absurd configs, by name; n is how many
// keys the "many" ones repeat (the test needs few to prove the error, the
// benchmark takes many to measure).
func adversarialInputs(n int) map[string]string {
	var many strings.Builder
	for i := range n {
		fmt.Fprintf(&many, "key%d: x\n", i)
	}
	var dups strings.Builder
	dups.WriteString("builders:\n  - name: b\n    steps:\n      - ")
	for range n {
		dups.WriteString("shell: {}\n        ")
	}
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := range 20 {
		laughs += fmt.Sprintf("%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n",
			'b'+i, 'b'+i, 'a'+i, 'a'+i, 'a'+i, 'a'+i, 'a'+i, 'a'+i, 'a'+i, 'a'+i, 'a'+i, 'a'+i)
	}
	return map[string]string{
		"deep nesting":          "workers: " + strings.Repeat("[", 20_000) + strings.Repeat("]", 20_000),
		"deep block nesting":    "title:\n" + strings.Repeat(" - \n", 5000),
		"many unknown keys":     many.String(),
		"many duplicate keys":   dups.String(),
		"billion laughs":        laughs,
		"long key":              strings.Repeat("k", 1<<20) + ": x\n",
		"binary":                "\x00\x01\x02\xff\xfe",
		"invalid utf-8 in name": "workers: [{name: \"\\xff\"}]\n",
		"huge int":              "caches: {Builds: 99999999999999999999999999}\n",
		"huge duration":         "metrics: {log_interval: 99999999999999h}\n",
		"nan":                   "caches: {Builds: .nan}\n",
	}
}

// Hostile or absurd inputs end in errors without a panic. (How fast:
// BenchmarkLoadAdversarial.)
func TestLoadAdversarial(t *testing.T) {
	for name, text := range adversarialInputs(2_000) {
		t.Run(name, func(t *testing.T) {
			_, err := Load("x.yaml", []byte(text))
			if err == nil {
				t.Fatal("Load accepted it")
			}
			_ = err.Error() // rendering the error does not panic either
		})
	}
}

// BenchmarkLoadAdversarial measures how long Load takes to refuse each of
// the adversarial inputs.
func BenchmarkLoadAdversarial(b *testing.B) {
	for name, text := range adversarialInputs(20_000) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Load("x.yaml", []byte(text)); err == nil {
					b.Fatal("Load accepted it")
				}
			}
		})
	}
}
