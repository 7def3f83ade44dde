package hugeheap

import "testing"

func TestParseMode(t *testing.T) {
	for _, c := range []struct {
		text string
		want Mode
		err  bool
	}{
		{"always [madvise] never\n", Madvise, false},
		{"[always] madvise never\n", Always, false},
		{"always madvise [never]\n", Never, false},
		{"always [madvise] never inherit\n", Madvise, false}, // a mode the kernel may add, not in force
		{"[madvise]", Madvise, false},
		{"always madvise never\n", 0, true},     // none in force
		{"", 0, true},                           // empty file
		{"always [inherit] never\n", 0, true},   // unknown mode in force
		{"[always] [madvise] never\n", 0, true}, // two in force
		{"always [madvise never\n", 0, true},    // unclosed bracket
	} {
		got, err := ParseMode(c.text)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("ParseMode(%q) = %v, %v; want %v, error %v", c.text, got, err, c.want, c.err)
		}
	}
}
