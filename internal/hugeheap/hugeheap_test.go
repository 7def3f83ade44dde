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

func TestWanted(t *testing.T) {
	const madvise, always = "always [madvise] never\n", "[always] madvise never\n"
	for _, c := range []struct {
		godebug, mode string
		want          bool
		err           bool
	}{
		{"", madvise, true, false},
		{"", always, false, false}, // the heap has huge pages without asking
		{"", "always madvise [never]\n", false, false},
		{"", "", false, true},
		{"disablethp=1", madvise, false, false},
		{"madvdontneed=1,disablethp=1", madvise, false, false},
		{"disablethp=1,disablethp=0", madvise, true, false}, // the last one wins
		{"disablethp=0", madvise, true, false},
		{"disablethp=2", madvise, false, false},
		{"disablethp=1,disablethp=x", madvise, false, false}, // not a number: ignored
		{"gctrace=1", madvise, true, false},
		{"disablethp=4294967296", madvise, true, false}, // not an int32: the runtime ignores it
		{"disablethp=1", "", false, false},              // off: the mode is not read
	} {
		ok, why, err := wanted(c.godebug, c.mode)
		if ok != c.want || (err != nil) != c.err || (!ok && !c.err && why == "") {
			t.Errorf("wanted(%q, %q) = %v, %q, %v; want %v, error %v", c.godebug, c.mode, ok, why, err, c.want, c.err)
		}
	}
}
