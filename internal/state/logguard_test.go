package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/segment"
	"github.com/hashicorp/raft-wal/types"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// faultVFS is the real file system, except that while full is set, segment
// files can be neither created nor written (ENOSPC), as on a full disk.
type faultVFS struct {
	types.VFS
	full atomic.Bool
}

func newFaultVFS() *faultVFS { return &faultVFS{VFS: fs.New()} }

func (v *faultVFS) Create(dir, name string, size uint64) (types.WritableFile, error) {
	if v.full.Load() {
		return nil, &os.PathError{Op: "create", Path: filepath.Join(dir, name), Err: syscall.ENOSPC}
	}
	f, err := v.VFS.Create(dir, name, size)
	if err != nil {
		return nil, err
	}
	return &faultFile{WritableFile: f, v: v, name: name}, nil
}

func (v *faultVFS) OpenWriter(dir, name string) (types.WritableFile, error) {
	f, err := v.VFS.OpenWriter(dir, name)
	if err != nil {
		return nil, err
	}
	return &faultFile{WritableFile: f, v: v, name: name}, nil
}

// faultMeta is raft-wal's meta database, except that while v.full is set
// it cannot be written (ENOSPC).
type faultMeta struct {
	types.MetaStore
	v *faultVFS
}

func (v *faultVFS) meta() types.MetaStore { return &faultMeta{MetaStore: &metadb.BoltMetaDB{}, v: v} }

func (m *faultMeta) CommitState(ps types.PersistentState) error {
	if m.v.full.Load() {
		return &os.PathError{Op: "write", Path: "wal.db", Err: syscall.ENOSPC}
	}
	return m.MetaStore.CommitState(ps)
}

func (m *faultMeta) SetStable(key, value []byte) error {
	if m.v.full.Load() {
		return &os.PathError{Op: "write", Path: "wal.db", Err: syscall.ENOSPC}
	}
	return m.MetaStore.SetStable(key, value)
}

// inject makes opts use v for the raft log's files.
func (v *faultVFS) inject(opts *Options) { opts.wal = walOptions{vfs: v, meta: v.meta} }

type faultFile struct {
	types.WritableFile
	v    *faultVFS
	name string
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if f.v.full.Load() {
		return 0, &os.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
	}
	return f.WritableFile.WriteAt(p, off)
}

// A write to the raft log that fails (injected ENOSPC, in the middle of a
// segment or when the next segment is created) is reported failed, the
// store is degraded and refuses commands, and it writes again by itself
// once the file system does; no acknowledged write is lost, also after a
// restart, and no failed one appears. raft-wal alone keeps the failed
// append in its buffer and fails every later one.
func TestFailedWritesDoNotPoisonTheLog(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts()
	opts.SegmentSize = 32 << 10 // rotate every ~200 changes
	v := newFaultVFS()
	v.inject(&opts)
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	l := &ledger{s: s, acked: map[uint64]string{}, failed: map[string]error{}}
	for round, n := range []int{10, 150, 57, 199, 1, 300, 31} {
		for range n {
			if err := l.write(); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		v.full.Store(true)
		err := l.write()
		if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, wal.ErrSealed) {
			t.Fatalf("round %d: write on a full disk: %v, want ENOSPC", round, err)
		}
		if h := s.Health(); h.Log == nil {
			t.Fatalf("round %d: health %q after a failed write", round, h)
		}
		if err := l.write(); !errors.Is(err, ErrDegraded) {
			t.Fatalf("round %d: write while degraded: %v, want ErrDegraded", round, err)
		}
		v.full.Store(false)
		testkit.Retry(t, func() error { return l.write() })
		if h := s.Health(); h.Log != nil {
			t.Fatalf("round %d: health %q after a write succeeded", round, h)
		}
		l.check(t, s, fmt.Sprintf("round %d", round))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	l.check(t, s, "after a restart")
}

// raft panics when it cannot save its term, which it does on every
// election, and it holds one after each failed write. A failed term write
// is retried (the log reopened) until it succeeds, so the process lives.
func TestFailedTermWriteIsRetried(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts()
	v := newFaultVFS()
	v.inject(&opts)
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	l := &ledger{s: s, acked: map[uint64]string{}, failed: map[string]error{}}
	if err := l.write(); err != nil {
		t.Fatal(err)
	}
	term := s.Stats().LastTerm
	// The meta database, where raft-wal keeps the term, fails too.
	v.full.Store(true)
	if err := l.write(); err == nil {
		t.Fatal("a write on a full disk succeeded")
	}
	// raft steps down and elects itself again, which fails to save its
	// term until the disk has space.
	testkit.Eventually(t, "a failed term write", func() bool {
		var pe *os.PathError
		return errors.As(s.Health().Log, &pe) && pe.Path == "wal.db"
	})
	v.full.Store(false)
	testkit.Retry(t, func() error { return l.write() })
	if got := s.Stats().LastTerm; got <= term {
		t.Fatalf("term %d after an election, was %d: no election happened, the test proved nothing", got, term)
	}
	l.check(t, s, "after the election")
}

// A rotation of the raft log sealed the tail segment's file but its record
// in the meta database did not happen (the write failed, or the process
// stopped). raft-wal then refuses every append with ErrSealed, also after a
// restart; openWAL finishes the rotation first.
func TestHalfDoneRotationIsFinished(t *testing.T) {
	dir := t.TempDir()
	o := walOptions{logger: newHCLogger(quiet(), 0), segmentSize: 8 << 10}
	l, err := openWAL(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	entry := func(i uint64) *raft.Log {
		return &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte(fmt.Sprintf("entry %d", i))}
	}
	if err := l.StoreLogs([]*raft.Log{entry(1), entry(2)}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Append to the tail segment's file directly, as raft-wal's append
	// does, until the segment seals itself; record nothing.
	meta := &metadb.BoltMetaDB{}
	ps, err := meta.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	meta.Close()
	w, err := segment.NewFiler(dir, fs.New()).RecoverTail(ps.Segments[len(ps.Segments)-1])
	if err != nil {
		t.Fatal(err)
	}
	last := uint64(2)
	for sealed := false; !sealed; {
		last++
		var b bytes.Buffer
		if err := (&wal.BinaryCodec{}).Encode(entry(last), &b); err != nil {
			t.Fatal(err)
		}
		if err := w.Append([]types.LogEntry{{Index: last, Data: b.Bytes()}}); err != nil {
			t.Fatal(err)
		}
		if sealed, _, err = w.Sealed(); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()

	rawMeta := &metadb.BoltMetaDB{}
	raw, err := wal.Open(dir, wal.WithMetaStore(rawMeta), wal.WithSegmentSize(o.segmentSize))
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.StoreLogs([]*raft.Log{entry(last + 1)}); !errors.Is(err, wal.ErrSealed) {
		t.Fatalf("raft-wal alone: append after a half-done rotation: %v, want ErrSealed (has raft-wal fixed it?)", err)
	}
	raw.Close()
	rawMeta.Close()

	if l, err = openWAL(dir, o); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.StoreLogs([]*raft.Log{entry(last + 1)}); err != nil {
		t.Fatalf("append after openWAL: %v", err)
	}
	for i := uint64(1); i <= last+1; i++ {
		var got raft.Log
		if err := l.GetLog(i, &got); err != nil || string(got.Data) != string(entry(i).Data) {
			t.Fatalf("entry %d: %q %v", i, got.Data, err)
		}
	}
}

// A store closed while its disk is full stops (a term write being retried
// gives up) and opens again with every acknowledged write.
func TestCloseWhileDiskFull(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts()
	v := newFaultVFS()
	v.inject(&opts)
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	l := &ledger{s: s, acked: map[uint64]string{}, failed: map[string]error{}}
	for range 20 {
		if err := l.write(); err != nil {
			t.Fatal(err)
		}
	}
	v.full.Store(true)
	if err := l.write(); err == nil {
		t.Fatal("a write on a full disk succeeded")
	}
	testkit.Eventually(t, "a failed term write", func() bool {
		var pe *os.PathError
		return errors.As(s.Health().Log, &pe) && pe.Path == "wal.db"
	})
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	testkit.Recv(t, "Close on a full disk", done)
	v.full.Store(false)
	if s, err = Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l.check(t, s, "after a restart")
}
