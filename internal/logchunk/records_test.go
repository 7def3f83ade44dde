package logchunk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/logchunk/logchunktest"
)

// content is small log logid's lines, in Buildbot's content form.
func content(logid uint64) string {
	return fmt.Sprintf("hlog %d\norunning true\neexit %d\n", logid, logid%3)
}

func open(t testing.TB, dir string, o logchunk.Options) *logchunk.Store {
	t.Helper()
	st, err := logchunk.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// closeDeferred writes log logid (content) and closes it with
// CloseDeferred, returning its record.
func closeDeferred(t *testing.T, st *logchunk.Store, logid uint64) []byte {
	t.Helper()
	w, err := st.Create(logid, logchunk.Stdio)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AppendChunk([]byte(content(logid))); err != nil {
		t.Fatal(err)
	}
	rec, err := w.CloseDeferred()
	if err != nil || rec == nil {
		t.Fatalf("close log %d: record %d bytes, %v", logid, len(rec), err)
	}
	return rec
}

// read returns log logid's content, or the error reading it.
func read(st *logchunk.Store, logid uint64) (string, error) {
	var b []byte
	res, err := st.Read(context.Background(), logid, 0, -1, func(l logchunk.Line) error {
		b = l.AppendContent(b)
		return nil
	})
	if err == nil && len(res.Lost)+len(res.Damage) > 0 {
		err = fmt.Errorf("lost %v, damage %v", res.Lost, res.Damage)
	}
	return string(b), err
}

func wantWhole(t *testing.T, st *logchunk.Store, logid uint64) {
	t.Helper()
	if got, err := read(st, logid); err != nil || got != content(logid) {
		t.Errorf("log %d: %q, %v; want %q", logid, got, err, content(logid))
	}
}

// A small log closed with CloseDeferred costs no fsync: it is readable at
// once, and its record is what the caller keeps; SyncRecords makes every
// record durable with one fsync (and one of the directory of a new
// segment), where Close pays one per batch of closes.
func TestCloseDeferredSyncsNothing(t *testing.T) {
	dir := t.TempDir()
	pfs := &logchunktest.PowerLossFS{}
	st := open(t, dir, logchunk.Options{FS: pfs})
	for id := uint64(1); id <= 10; id++ {
		closeDeferred(t, st, id)
		wantWhole(t, st, id)
	}
	if n := pfs.Syncs(); n != 0 {
		t.Errorf("%d fsyncs for 10 small logs closed with CloseDeferred, want 0", n)
	}
	if err := st.SyncRecords(); err != nil {
		t.Fatal(err)
	}
	if n := pfs.Syncs(); n != 2 {
		t.Errorf("SyncRecords made %d fsyncs, want 2 (segment and directory)", n)
	}
	if err := pfs.Lose(0); err != nil {
		t.Fatal(err)
	}
	st = open(t, dir, logchunk.Options{})
	defer st.Close()
	for id := uint64(1); id <= 10; id++ {
		wantWhole(t, st, id)
	}
}

// Close, by contrast, makes a small log durable itself: one fsync (of a
// segment, plus its directory when new) per batch of closes.
func TestCloseSyncsASmallLog(t *testing.T) {
	pfs := &logchunktest.PowerLossFS{}
	st := open(t, t.TempDir(), logchunk.Options{FS: pfs})
	defer st.Close()
	for id := uint64(1); id <= 3; id++ {
		w, err := st.Create(id, logchunk.Stdio)
		if err != nil {
			t.Fatal(err)
		}
		w.AppendChunk([]byte(content(id)))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if n := pfs.Syncs(); n != 4 {
		t.Errorf("%d fsyncs for 3 small logs closed one after the other, want 4", n)
	}
}

// After a power loss took the segments' unsynced tails (cut at a frame,
// or torn inside one), PutRecord writes back the records the caller kept:
// every log reads whole again, and putting them again writes nothing.
func TestPutRecordAfterPowerLoss(t *testing.T) {
	for _, tear := range []int64{0, 7, 29} {
		t.Run(fmt.Sprintf("tear=%d", tear), func(t *testing.T) {
			dir := t.TempDir()
			pfs := &logchunktest.PowerLossFS{}
			o := logchunk.Options{FS: pfs, SegmentSize: 300} // a few logs per segment
			st := open(t, dir, o)
			recs := map[uint64][]byte{}
			for id := uint64(1); id <= 4; id++ {
				recs[id] = closeDeferred(t, st, id)
			}
			if err := st.SyncRecords(); err != nil {
				t.Fatal(err)
			}
			for id := uint64(5); id <= 12; id++ {
				recs[id] = closeDeferred(t, st, id)
			}
			if err := pfs.Lose(tear); err != nil {
				t.Fatal(err)
			}

			st = open(t, dir, logchunk.Options{SegmentSize: 300})
			defer st.Close()
			var before map[string]int64
			missing := 0
			for id := uint64(1); id <= 12; id++ {
				if got, err := read(st, id); id <= 4 && (err != nil || got != content(id)) {
					t.Errorf("log %d, synced, lost to the power loss: %q, %v", id, got, err)
				} else if err != nil {
					missing++
				}
			}
			if missing == 0 {
				t.Fatal("the power loss lost no log: the test tests nothing")
			}
			for pass := range 2 {
				for id, rec := range recs {
					if err := st.PutRecord(id, rec); err != nil {
						t.Fatalf("pass %d: %v", pass, err)
					}
				}
				sizes := segmentSizes(t, dir)
				for id := range recs {
					wantWhole(t, st, id)
				}
				if pass == 1 && !equalSizes(sizes, before) {
					t.Errorf("putting the records again changed the segments: %v, then %v", before, sizes)
				}
				before = sizes
			}
		})
	}
}

func segmentSizes(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "small", "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, n := range names {
		fi, err := os.Stat(n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = fi.Size()
	}
	return out
}

func equalSizes(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A record that is not one of the log's, or is damaged, is refused with an
// error and nothing is written; a log that has a file keeps it.
func TestPutRecordRefusesBadRecords(t *testing.T) {
	st := open(t, t.TempDir(), logchunk.Options{})
	defer st.Close()
	other := open(t, t.TempDir(), logchunk.Options{})
	defer other.Close()
	rec := closeDeferred(t, other, 3) // log 3's, which st does not have
	flipped := bytes.Clone(rec)
	flipped[len(flipped)-1] ^= 1
	for name, c := range map[string]struct {
		logid uint64
		rec   []byte
	}{
		"another log's": {2, rec},
		"flipped bit":   {3, flipped},
		"cut short":     {3, rec[:len(rec)-1]},
		"empty":         {3, nil},
		"too long":      {3, append(bytes.Clone(rec), make([]byte, 2<<20)...)},
		"two records":   {3, append(bytes.Clone(rec), rec[logchunk.FileHeaderSize:]...)},
	} {
		if err := st.PutRecord(c.logid, c.rec); err == nil {
			t.Errorf("%s record put", name)
		}
		if _, _, _, err := st.Locate(c.logid); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s record: log %d is there: %v", name, c.logid, err)
		}
	}
	if err := st.PutRecord(3, rec); err != nil {
		t.Fatal(err)
	}
	wantWhole(t, st, 3)

	w, err := st.Create(5, logchunk.Stdio)
	if err != nil {
		t.Fatal(err)
	}
	w.AppendChunk([]byte(content(5)))
	if err := w.Sync(); err != nil { // a chunk of its own: a file
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.PutRecord(5, closeDeferred(t, other, 5)); err != nil {
		t.Fatal(err)
	}
	if path, _, _, err := st.Locate(5); err != nil || path != st.Path(5) {
		t.Errorf("log 5 with a file: at %s, %v", path, err)
	}
}

// FuzzPutRecord hands PutRecord any bytes as a record: never a panic; a
// record it takes reads back without damage.
func FuzzPutRecord(f *testing.F) {
	seeds := open(f, f.TempDir(), logchunk.Options{})
	defer seeds.Close()
	for id := uint64(1); id <= 2; id++ {
		w, err := seeds.Create(id, logchunk.Stdio)
		if err != nil {
			f.Fatal(err)
		}
		w.AppendChunk([]byte(content(id)))
		rec, err := w.CloseDeferred()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(id, rec)
	}
	st := open(f, f.TempDir(), logchunk.Options{})
	defer st.Close()
	f.Fuzz(func(t *testing.T, logid uint64, rec []byte) {
		if st.PutRecord(logid, rec) != nil {
			return
		}
		res, err := st.Read(context.Background(), logid, 0, -1, func(logchunk.Line) error { return nil })
		if err != nil || len(res.Damage) > 0 {
			t.Fatalf("log %d put, then: %v, damage %v", logid, err, res.Damage)
		}
	})
}
