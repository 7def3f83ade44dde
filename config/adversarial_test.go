package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Hostile or absurd inputs end in errors, quickly, without a panic.
func TestLoadAdversarial(t *testing.T) {
	var many strings.Builder
	for i := range 20_000 {
		fmt.Fprintf(&many, "key%d: x\n", i)
	}
	var dups strings.Builder
	dups.WriteString("builders:\n  - name: b\n    steps:\n      - ")
	for range 20_000 {
		dups.WriteString("shell: {}\n        ")
	}
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := range 20 {
		laughs += fmt.Sprintf("%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n",
			'b'+i, 'b'+i, 'a'+i, 'a'+i, 'a'+i, 'a'+i, 'a'+i, 'a'+i, 'a'+i, 'a'+i, 'a'+i, 'a'+i)
	}
	for name, text := range map[string]string{
		"deep nesting":          "workers: " + strings.Repeat("[", 20_000) + strings.Repeat("]", 20_000),
		"deep block nesting":    "title:\n" + strings.Repeat(" - \n", 5000),
		"20k unknown keys":      many.String(),
		"20k duplicate keys":    dups.String(),
		"billion laughs":        laughs,
		"long key":              strings.Repeat("k", 1<<20) + ": x\n",
		"binary":                "\x00\x01\x02\xff\xfe",
		"invalid utf-8 in name": "workers: [{name: \"\\xff\"}]\n",
		"huge int":              "caches: {Builds: 99999999999999999999999999}\n",
		"huge duration":         "metrics: {log_interval: 99999999999999h}\n",
		"nan":                   "caches: {Builds: .nan}\n",
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := Load("x.yaml", []byte(text))
			if err == nil {
				t.Error("Load accepted it")
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Load took %v", d)
			}
			_ = err.Error()
		})
	}
}
