package reporters

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestTail(t *testing.T) {
	var sixty strings.Builder
	for i := 1; i <= 60; i++ {
		fmt.Fprintf(&sixty, "oline %d\n", i)
	}
	var want40 []string
	for i := 21; i <= 60; i++ {
		want40 = append(want40, fmt.Sprintf("line %d", i))
	}
	long := strings.Repeat("é", TailLineBytes) // 2 bytes each
	var big strings.Builder
	for range TailLines {
		big.WriteString("o" + strings.Repeat("x", TailLineBytes) + "\n")
	}
	for _, c := range []struct {
		name    string
		content string
		stdio   bool
		want    []string
	}{
		{"header lines and streams", "hbash -c make\nostarting\neboom\nhprogram finished with exit code 2\n", true,
			[]string{"starting", "boom"}},
		{"the last 40 lines", sixty.String(), true, want40},
		{"a text log keeps its first letters", "hello\nworld\n", false, []string{"hello", "world"}},
		{"a long line is cut on a character", "o" + long + "\n", true, []string{strings.Repeat("é", TailLineBytes/2) + "…"}},
		{"invalid UTF-8", "o\xff\xfeok\n", true, []string{"\uFFFDok"}},
		{"no final newline", "oa\nob", true, []string{"a", "b"}},
		{"empty", "", true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := tail([]byte(c.content), c.stdio); !slices.Equal(got, c.want) {
				t.Errorf("tail = %q, want %q", got, c.want)
			}
		})
	}
	t.Run("bounded in bytes", func(t *testing.T) {
		got := tail([]byte(big.String()), true)
		size := 0
		for _, l := range got {
			size += len(l) + 1
		}
		if size > TailBytes || len(got) == 0 || len(got) == TailLines {
			t.Errorf("%d lines, %d bytes: want fewer than %d lines within %d bytes", len(got), size, TailLines, TailBytes)
		}
	})
}
