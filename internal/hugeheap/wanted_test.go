package hugeheap

import "testing"

func TestDecide(t *testing.T) {
	const madvise, always = "always [madvise] never\n", "[always] madvise never\n"
	for _, c := range []struct {
		in   inputs
		want bool
		err  bool
	}{
		{inputs{mode: madvise, overcommit: "0\n"}, true, false},
		{inputs{mode: madvise, overcommit: "1\n"}, true, false},
		{inputs{mode: always, overcommit: "0\n"}, false, false}, // the heap has huge pages without asking
		{inputs{mode: "always madvise [never]\n", overcommit: "0\n"}, false, false},
		{inputs{mode: "", overcommit: "0\n"}, false, true},
		// GODEBUG in the environment, read as the runtime reads it.
		{inputs{godebug: "disablethp=1", mode: madvise, overcommit: "0\n"}, false, false},
		{inputs{godebug: "madvdontneed=1,disablethp=1", mode: madvise, overcommit: "0\n"}, false, false},
		{inputs{godebug: "disablethp=1,disablethp=0", mode: madvise, overcommit: "0\n"}, true, false}, // the last one wins
		{inputs{godebug: "disablethp=0", mode: madvise, overcommit: "0\n"}, true, false},
		{inputs{godebug: "disablethp=2", mode: madvise, overcommit: "0\n"}, false, false},
		{inputs{godebug: "disablethp=1,disablethp=x", mode: madvise, overcommit: "0\n"}, false, false}, // not a number: ignored
		{inputs{godebug: "gctrace=1", mode: madvise, overcommit: "0\n"}, true, false},
		{inputs{godebug: "disablethp=4294967296", mode: madvise, overcommit: "0\n"}, true, false}, // not an int32: the runtime ignores it
		{inputs{godebug: "disablethp=1", overcommit: "0\n"}, false, false},                        // off: the mode is not read
		// Strict overcommit: what is prepared and never used counts against
		// the commit limit.
		{inputs{mode: madvise, overcommit: "2\n"}, false, false},
		{inputs{mode: madvise, overcommit: ""}, false, true},
		{inputs{mode: madvise, overcommit: "3\n"}, false, true},
	} {
		ok, why, err := decide(c.in)
		if ok != c.want || (err != nil) != c.err || (!ok && !c.err && why == "") {
			t.Errorf("decide(%#v) = %v, %q, %v; want %v, error %v", c.in, ok, why, err, c.want, c.err)
		}
	}
}
