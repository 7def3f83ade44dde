package logchunk

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestPathShards(t *testing.T) {
	st := newStore(t, Options{})
	for id, want := range map[uint64]string{
		1:             "0/000/1.log",
		4095:          "0/000/4095.log",
		4096:          "0/001/4096.log",
		123456:        "0/01e/123456.log",
		1<<24 + 5:     "1/000/16777221.log",
		1<<40 + 1<<12: "10000/001/1099511631872.log",
	} {
		if got, _ := filepath.Rel(st.dir, st.Path(id)); got != want {
			t.Errorf("log %d at %s, want %s", id, got, want)
		}
	}
}

func TestListAndRemove(t *testing.T) {
	st := newStore(t, Options{})
	ids := []uint64{1, 2, 4095, 4096, 9000, 1<<24 + 5, 1<<24 + 4096*7}
	for _, id := range ids {
		writeLog(t, st, id, Text, []string{"x\n"})
	}
	// Files that are not logs are left out.
	for _, junk := range []string{"0/000/notes.txt", "0/000/12.log.tmp", "zz/readme"} {
		p := filepath.Join(st.dir, junk)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	// In batches of 3 from the start: every log once, in order.
	var all []uint64
	for after := uint64(0); ; {
		batch, err := st.List(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		all = append(all, batch...)
		after = batch[len(batch)-1]
	}
	if !slices.Equal(all, ids) {
		t.Errorf("listed %v, want %v", all, ids)
	}
	if got, _ := st.List(ctx, 4096, 2); !slices.Equal(got, []uint64{9000, 1<<24 + 5}) {
		t.Errorf("listed after 4096: %v", got)
	}

	w, err := st.Create(77, Stdio)
	if err != nil {
		t.Fatal(err)
	}
	n, err := st.Remove(ctx, 1, 2, 77, 4096, 9000, 555)
	if n != 5 || !errors.Is(err, ErrOpen) {
		t.Errorf("removed %d, %v; want 5 (a log without a file counts) and ErrOpen for the open one", n, err)
	}
	if _, err := st.Read(ctx, 4096, 0, -1, func(Line) error { return nil }); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read of a removed log: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.List(ctx, 0, 100); !slices.Equal(got, []uint64{77, 4095, 1<<24 + 5, 1<<24 + 4096*7}) {
		t.Errorf("left %v", got)
	}
	// Directories left empty are gone; the others stay.
	if _, err := os.Stat(filepath.Dir(st.Path(4096))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty directory of log 4096: %v", err)
	}
	if n, err := st.Remove(ctx, 77, 4095, 1<<24+5, 1<<24+4096*7); n != 4 || err != nil {
		t.Errorf("removed %d, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(st.dir, "1")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty directory 1: %v", err)
	}
	if _, err := os.Stat(filepath.Join(st.dir, "0/000/notes.txt")); err != nil {
		t.Errorf("a file that is not a log was removed: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if n, err := st.Remove(cancelled, 1); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("remove with a cancelled context: %d, %v", n, err)
	}
}

// TestCreateAfterItsDirectoryWent: the store remembers the directories it
// made, and still creates a log whose directory went since, removed by
// the store (its last log removed) or behind its back.
func TestCreateAfterItsDirectoryWent(t *testing.T) {
	for _, c := range []struct {
		name   string
		remove func(st *Store) error
	}{
		{"by the store", func(st *Store) error { _, err := st.Remove(context.Background(), 1); return err }},
		{"behind its back", func(st *Store) error { return os.RemoveAll(filepath.Join(st.dir, "0")) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := newStore(t, Options{})
			writeLog(t, st, 1, Text, []string{"one\n"})
			if err := c.remove(st); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Dir(st.Path(1))); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the log's directory is still there (%v)", err)
			}
			writeLog(t, st, 2, Text, []string{"two\n"})
			if lines, _, res := readLines(t, st, 2, 0, -1); !slices.Equal(lines, []string{"two\n"}) || len(res.Lost) > 0 {
				t.Errorf("log 2 reads %q (lost %v), want its line", lines, res.Lost)
			}
		})
	}
}

// TestRemoveSmallAndFileLogs: one Remove takes small logs and logs with
// files of their own: the small ones go by a removal record, touching no
// path of a file of their own (there, a directory stays, and no error
// comes of it), the others' files go; after a restart, all are gone.
func TestRemoveSmallAndFileLogs(t *testing.T) {
	dir := t.TempDir()
	st := smallStore(t, dir, Options{ChunkSize: 256})
	writeLog(t, st, 1, Stdio, smallLines(1))
	writeLog(t, st, 2, Stdio, buildOutput(20)) // past a chunk: a file
	writeLog(t, st, 3, Stdio, smallLines(3))
	if _, err := os.Stat(st.Path(2)); err != nil {
		t.Fatalf("log 2 has no file: %v", err)
	}
	// Where small log 3's file would be, a directory no removal may touch.
	if err := os.MkdirAll(filepath.Join(st.Path(3), "keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if n, err := st.Remove(ctx, 1, 2, 3); n != 3 || err != nil {
		t.Fatalf("removed %d, %v; want 3 and no error", n, err)
	}
	check := func(st *Store) {
		t.Helper()
		for _, id := range []uint64{1, 2} {
			if _, err := st.Read(ctx, id, 0, -1, func(Line) error { return nil }); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("read of removed log %d: %v", id, err)
			}
		}
		if _, ok := st.small.lookup(3); ok {
			t.Error("small log 3 is still indexed")
		}
		if ids, err := st.List(ctx, 0, 10); len(ids) != 0 || err != nil {
			t.Errorf("left %v, %v", ids, err)
		}
		if _, err := os.Stat(st.Path(2)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("log 2's file: %v", err)
		}
		if _, err := os.Stat(filepath.Join(st.Path(3), "keep")); err != nil {
			t.Errorf("the directory at log 3's path went: %v", err)
		}
	}
	check(st)
	closeStore(t, st)
	st = smallStore(t, dir, Options{ChunkSize: 256})
	defer closeStore(t, st)
	check(st)
}
