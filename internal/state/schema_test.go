package state

import (
	"bytes"
	"cmp"
	"math"
	"testing"

	"github.com/buildmaster/buildmaster/messages"
)

// Keys sort as their values do: uint64 and int64 (negative first), and
// tuples field by field, a string's end before any longer string.
func FuzzKeyOrder(f *testing.F) {
	for _, s := range [][4]int64{{0, 1, 0, 0}, {-1, 1, 63, 64}, {math.MinInt64, math.MaxInt64, 4095, 4096}, {1 << 40, 1<<40 + 1, -64, 63}} {
		f.Add(s[0], s[1], uint64(s[2]), uint64(s[3]), "a", "ab")
	}
	f.Fuzz(func(t *testing.T, a, b int64, ua, ub uint64, sa, sb string) {
		key := func(vals ...any) []byte {
			k, err := encodeKey(0, vals...)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		if got, want := bytes.Compare(key(ua), key(ub)), cmp.Compare(ua, ub); got != want {
			t.Fatalf("uint64 %d vs %d: keys compare %d, values %d", ua, ub, got, want)
		}
		if got, want := bytes.Compare(key(a), key(b)), cmp.Compare(a, b); got != want {
			t.Fatalf("int64 %d vs %d: keys compare %d, values %d", a, b, got, want)
		}
		if bytes.IndexByte([]byte(sa+sb), 0) < 0 {
			want := cmp.Or(cmp.Compare(sa, sb), cmp.Compare(ua, ub))
			if got := bytes.Compare(key(sa, ua), key(sb, ub)); got != want {
				t.Fatalf("(%q, %d) vs (%q, %d): keys compare %d, values %d", sa, ua, sb, ub, got, want)
			}
		}
	})
}

// TestKeyRoom: a non-unique index's key leaves room for the id key go-memdb
// appends to it, so that the append does not copy it; a unique one's does not.
func TestKeyRoom(t *testing.T) {
	tables := Schema().Tables
	ch := change("a", "main", 1)
	ch.Changeid, ch.Sourcestampid = 7, 3
	for _, c := range []struct {
		index string
		room  int
	}{{IndexID, 0}, {IndexBranch, keyDigits}, {IndexChangeSourceStamp, keyDigits}} {
		_, key, err := tables[TableChanges].Indexes[c.index].Indexer.(keyIndex).FromObject(ch)
		if err != nil {
			t.Fatal(err)
		}
		if got := cap(key) - len(key); got != c.room {
			t.Errorf("index %s: %d bytes free after the key, want %d", c.index, got, c.room)
		}
	}
}

// TestKeyAllocs: indexing a row allocates its key and nothing else, for
// integer and string values alike.
func TestKeyAllocs(t *testing.T) {
	tables := Schema().Tables
	r := &messages.BuildRequest{Id: 1 << 40, Builderid: 1 << 30, SubmittedAt: 1 << 50, Buildsetid: 1 << 20}
	ch := change("a", "main", 1)
	ch.Changeid = 1 << 40
	for _, c := range []struct {
		table, index string
		row          any
	}{
		{TableBuildRequests, IndexID, r}, {TableBuildRequests, IndexUnclaimed, r}, {TableBuildRequests, IndexBuildset, r},
		{TableChanges, IndexBranch, ch},
	} {
		ix := tables[c.table].Indexes[c.index].Indexer.(keyIndex)
		if n := testing.AllocsPerRun(100, func() { _, _, _ = ix.FromObject(c.row) }); n != 1 {
			t.Errorf("%s.%s: %v allocations per row, want 1 (its key)", c.table, c.index, n)
		}
	}
}
