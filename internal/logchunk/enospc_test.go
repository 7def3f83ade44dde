package logchunk

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"sync"
	"syscall"
	"testing"
)

// faultFS is the operating system's file system with faults switched on
// and off by the test: a full disk for writes (with a torn half write
// first when partial), for creating files, and for cutting a file back.
type faultFS struct {
	OS
	mu                              sync.Mutex
	full, partial, noCreate, noTrim bool
	dirsSynced                      []string
}

func (f *faultFS) set(edit func(*faultFS)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	edit(f)
}

func (f *faultFS) Create(name string) (File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noCreate {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.ENOSPC}
	}
	file, err := f.OS.Create(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

func (f *faultFS) SyncDir(dir string) error {
	f.mu.Lock()
	f.dirsSynced = append(f.dirsSynced, dir)
	f.mu.Unlock()
	return f.OS.SyncDir(dir)
}

type faultFile struct {
	File
	fs *faultFS
}

func (f *faultFile) WriteAt(b []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	full, partial := f.fs.full, f.fs.partial
	f.fs.mu.Unlock()
	if !full {
		return f.File.WriteAt(b, off)
	}
	n := 0
	if partial {
		n, _ = f.File.WriteAt(b[:len(b)/2], off)
	}
	return n, &fs.PathError{Op: "write", Path: "log", Err: syscall.ENOSPC}
}

func (f *faultFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	noTrim := f.fs.noTrim
	f.fs.mu.Unlock()
	if noTrim {
		return &fs.PathError{Op: "truncate", Path: "log", Err: syscall.EIO}
	}
	return f.File.Truncate(size)
}

// A full disk drops the chunks written meanwhile, counts their lines lost,
// and the log goes on with its numbering once space returns; whatever the
// failed writes left in the file is cut away.
func TestDiskFull(t *testing.T) {
	cases := []struct {
		name  string
		fault func(*faultFS)
		cause error // of the last failure
		lost  Range
	}{
		{"writes fail", func(f *faultFS) { f.full = true }, syscall.ENOSPC, Range{40, 80}},
		{"writes fail half way", func(f *faultFS) { f.full, f.partial = true, true }, syscall.ENOSPC, Range{40, 80}},
		{"writes fail half way, cutting back fails", func(f *faultFS) { f.full, f.partial, f.noTrim = true, true, true }, syscall.EIO, Range{40, 80}},
	}
	lines := buildOutput(120)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ffs := &faultFS{}
			st := newStore(t, Options{ChunkSize: 200, FS: ffs})
			w, err := st.Create(1, Stdio)
			if err != nil {
				t.Fatal(err)
			}
			appendFlush := func(from, to int) error {
				for _, l := range lines[from:to] {
					if _, err := w.AppendChunk([]byte(l)); err != nil {
						t.Fatal(err)
					}
				}
				return w.Flush()
			}
			if err := appendFlush(0, 40); err != nil {
				t.Fatal(err)
			}
			ffs.set(c.fault)
			err = appendFlush(40, 80)
			var lost *LostError
			if !errors.As(err, &lost) || !errors.Is(err, c.cause) || lost.Lines.To != 80 {
				t.Fatalf("flush on a full disk: %v, want a LostError of %v ending at line 80", err, c.cause)
			}
			// Readers meanwhile see the chunks before the failure only.
			if got, _, res := readLines(t, st, 1, 0, -1); len(got) != 40 || len(res.Damage) > 0 || !slices.Equal(res.Lost, []Range{{40, 80}}) || res.End != 80 {
				t.Errorf("read while full: %d lines, %+v; want 40, then 40…79 lost", len(got), res)
			}
			ffs.set(func(f *faultFS) { f.full, f.partial, f.noTrim = false, false, false })
			if err := appendFlush(80, 120); err != nil {
				t.Fatalf("flush once space is back: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got := w.Lost(); !slices.Equal(got, []Range{c.lost}) || w.Lines() != 120 {
				t.Errorf("writer lost %v of %d lines, want %v of 120", got, w.Lines(), c.lost)
			}
			got, nums, res := readLines(t, st, 1, 0, -1)
			want := append(slices.Clone(lines[:40]), lines[80:]...)
			if !slices.Equal(got, want) || nums[40] != 80 {
				t.Errorf("read %d lines (line 40 numbered %d), want %d (numbered 80)", len(got), nums[40], len(want))
			}
			if !slices.Equal(res.Lost, []Range{c.lost}) || len(res.Damage) > 0 || res.End != 120 {
				t.Errorf("read result %+v, want lost %v and no damage", res, c.lost)
			}
			rep, err := st.Check(context.Background(), 1)
			if err != nil || rep.Torn != 0 || !slices.Equal(rep.Lost, []Range{c.lost}) || rep.Lines != 120 {
				t.Errorf("check %+v, %v", rep, err)
			}
			if s := st.Stats(); s.LostLines != c.lost.Len() {
				t.Errorf("stats %+v, want %d lines lost", s, c.lost.Len())
			}
		})
	}
}

// A log whose file cannot even be created starts anyway; the file is
// created once space returns, its first lines counted lost.
func TestDiskFullAtCreate(t *testing.T) {
	ffs := &faultFS{noCreate: true}
	st := newStore(t, Options{FS: ffs})
	w, err := st.Create(5, Text)
	if err != nil {
		t.Fatalf("create on a full disk: %v", err)
	}
	if _, err := w.Append(NoStream, []byte("a\nb\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("sync on a full disk: %v", err)
	}
	if got, _, res := readLines(t, st, 5, 0, -1); len(got) != 0 || res.End != 2 || !slices.Equal(res.Lost, []Range{{0, 2}}) || res.Type != Text {
		t.Errorf("read of a log without a file yet: %q %+v; want lines 0…1 lost", got, res)
	}
	ffs.set(func(f *faultFS) { f.noCreate = false })
	if _, err := w.Append(NoStream, []byte("c\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, nums, res := readLines(t, st, 5, 0, -1)
	if !slices.Equal(got, []string{"c\n"}) || nums[0] != 2 || !slices.Equal(res.Lost, []Range{{0, 2}}) {
		t.Errorf("read %q numbered %v, lost %v; want line 2 only, 0…1 lost", got, nums, res.Lost)
	}
	// The new directories were made durable, the log's own first.
	if len(ffs.dirsSynced) != 3 || ffs.dirsSynced[0] != st.Path(5)[:len(st.Path(5))-len("/5.log")] {
		t.Errorf("directories synced: %v", ffs.dirsSynced)
	}
}
