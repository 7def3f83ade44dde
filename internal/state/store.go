package state

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// Files in a Store's directory.
const (
	// LogDir is the raft log and stable store: hashicorp/raft-wal segment
	// files, one fsync per batch of entries.
	LogDir = "wal"
	// boltLogFile is where releases before the WAL kept the log (bbolt);
	// Open moves such a log into LogDir once.
	boltLogFile = "raft.db"
	// SnapshotDir holds raft's file snapshots (snapshots/<id>/{meta.json,state.bin}).
	SnapshotDir = "snapshots"
)

// Options tunes a durable Store. The zero value is sensible.
type Options struct {
	// Logger receives raft's log lines (default slog.Default()).
	Logger *slog.Logger
	// RaftLogLevel is the lowest raft level passed on (default slog.LevelWarn).
	RaftLogLevel *slog.Level
	// SnapshotThreshold is how many log entries since the last snapshot
	// trigger a new one (default 16384).
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks the threshold (default 30s).
	SnapshotInterval time.Duration
	// TrailingLogs is how many entries are kept in the log after a
	// snapshot (default 4096).
	TrailingLogs uint64
	// RetainSnapshots is how many snapshots are kept on disk (default 2).
	RetainSnapshots int
	// NoSnapshotOnClose skips the snapshot Close normally takes (so that
	// the next Open restores it instead of replaying the log). Tests and
	// benchmarks use it to leave the state a crash leaves.
	NoSnapshotOnClose bool
	// StartTimeout bounds how long Open waits for the replay (default 60s).
	StartTimeout time.Duration
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RaftLogLevel == nil {
		l := slog.LevelWarn
		o.RaftLogLevel = &l
	}
	if o.SnapshotThreshold == 0 {
		o.SnapshotThreshold = 16384
	}
	if o.SnapshotInterval == 0 {
		o.SnapshotInterval = 5 * time.Second
	}
	if o.TrailingLogs == 0 {
		o.TrailingLogs = 4096
	}
	if o.RetainSnapshots == 0 {
		o.RetainSnapshots = 2
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 60 * time.Second
	}
}

// Store is the master's database: a memdb changed only through Submit. In
// durable mode each command is a raft log entry, committed to disk before
// it is applied and acknowledged; in ephemeral mode it is applied at once.
type Store struct {
	fsm   *fsm
	raft  *raft.Raft // nil when ephemeral
	logs  *logStore
	snaps *raft.FileSnapshotStore
	trans *raft.InmemTransport
	dir   string
	opts  Options

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool
}

// fsm is raft's finite state machine: a memdb applied to by Apply.
type fsm struct {
	db atomic.Pointer[memdb.MemDB]

	mu         sync.Mutex
	restoreErr error // the first failed Restore: Open refuses to start
}

// applied is what fsm.Apply returns through raft's ApplyFuture.Response.
type applied struct {
	res *messages.CommandResult
	err error
}

func (f *fsm) apply(cmd *messages.Command) (res *messages.CommandResult, err error) {
	txn := writeTxn(f.db.Load())
	defer func() {
		if r := recover(); r != nil {
			txn.Abort()
			res, err = nil, fmt.Errorf("state: panic applying command: %v", r)
		}
	}()
	res, err = Apply(txn, cmd)
	if err != nil {
		txn.Abort()
		return nil, err
	}
	Recount(txn)
	txn.Commit()
	return res, nil
}

func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	cmd := &messages.Command{}
	if err := proto.Unmarshal(l.Data, cmd); err != nil {
		return applied{err: fmt.Errorf("%w: raft log entry %d: %v", ErrBadCommand, l.Index, err)}
	}
	res, err := f.apply(cmd)
	return applied{res: res, err: err}
}

// ApplyBatch applies raft's committed entries in one memdb write
// transaction (raft.BatchingFSM): much cheaper than one per command. If any
// command in the batch fails, the batch transaction is aborted and the
// entries are applied again one transaction each, so that a bad command
// still writes nothing and the others are unaffected; the result is the
// same as applying them one by one, since Apply is deterministic.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	cmds := make([]*messages.Command, len(logs))
	ok := true
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		cmd := &messages.Command{}
		if err := proto.Unmarshal(l.Data, cmd); err != nil {
			ok = false
			break
		}
		cmds[i] = cmd
	}
	if ok {
		ok = f.applyAll(cmds, out)
	}
	if !ok {
		for i, l := range logs {
			out[i] = f.Apply(l)
		}
	}
	return out
}

func (f *fsm) applyAll(cmds []*messages.Command, out []any) (ok bool) {
	txn := writeTxn(f.db.Load())
	defer func() {
		if r := recover(); r != nil {
			txn.Abort()
			ok = false
		}
	}()
	seq := &ids{}
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		res, err := applyCmd(txn, seq, cmd)
		if err != nil {
			txn.Abort()
			return false
		}
		out[i] = applied{res: res}
	}
	Recount(txn)
	txn.Commit()
	return true
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{txn: f.db.Load().Txn(false)}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	db, err := ReadSnapshot(rc)
	if err != nil {
		f.mu.Lock()
		if f.restoreErr == nil {
			f.restoreErr = err
		}
		f.mu.Unlock()
		return err
	}
	f.db.Store(db)
	return nil
}

type fsmSnapshot struct{ txn *memdb.Txn }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := WriteSnapshot(sink, s.txn); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

// snapshotMagic starts every snapshot; the format is: magic, then for each
// row (tables in Tables order, rows in id order) uvarint(table number + 1),
// uvarint(length), protobuf record; then uvarint(0), uvarint(row count).
const snapshotMagic = "BMSNAP01"

func newRecord(table int) proto.Message {
	switch Tables[table] {
	case TableMasters:
		return &messages.Master{}
	case TableChanges:
		return &messages.Change{}
	case TableSourceStamps:
		return &messages.SourceStamp{}
	case TableBuildsets:
		return &messages.Buildset{}
	case TableBuildRequests:
		return &messages.BuildRequest{}
	case TableBuilders:
		return &messages.Builder{}
	case TableBuilds:
		return &messages.Build{}
	case TableSteps:
		return &messages.Step{}
	case TableLogs:
		return &messages.Log{}
	case TableLogChunks:
		return &messages.LogChunk{}
	case TableWorkers:
		return &messages.Worker{}
	case TableSchedulers:
		return &messages.Scheduler{}
	case TableChangeSources:
		return &messages.ChangeSource{}
	case TableObjects:
		return &messages.StateObject{}
	case TableObjectState:
		return &messages.ObjectState{}
	case TableUsers:
		return &messages.User{}
	case TableUsersInfo:
		return &messages.UserInfo{}
	}
	panic("state: no record type for table " + Tables[table])
}

// WriteSnapshot streams every table of txn to w.
func WriteSnapshot(w io.Writer, txn *memdb.Txn) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return err
	}
	var n uint64
	var hdr [2 * binary.MaxVarintLen64]byte
	buf := make([]byte, 0, 1024)
	opts := proto.MarshalOptions{Deterministic: true}
	for ti, table := range Tables {
		it, err := txn.Get(table, IndexID+"_prefix")
		if err != nil {
			return err
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			buf, err = opts.MarshalAppend(buf[:0], raw.(proto.Message))
			if err != nil {
				return err
			}
			h := binary.AppendUvarint(hdr[:0], uint64(ti+1))
			h = binary.AppendUvarint(h, uint64(len(buf)))
			if _, err := bw.Write(h); err != nil {
				return err
			}
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			n++
		}
	}
	bw.Write(binary.AppendUvarint(hdr[:0], 0))
	bw.Write(binary.AppendUvarint(hdr[:0], n))
	return bw.Flush()
}

// ReadSnapshot rebuilds a database from what WriteSnapshot wrote. A
// truncated or malformed stream is an error, never a partial database.
// Rows are read and decoded in one goroutine while another inserts them
// (memdb inserts are the larger cost; decoding overlaps them).
func ReadSnapshot(r io.Reader) (*memdb.MemDB, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return nil, fmt.Errorf("state: snapshot: not a buildmaster snapshot (bad header)")
	}
	db, err := NewDB()
	if err != nil {
		return nil, err
	}
	batches := make(chan snapshotBatch, 8)
	stop := make(chan struct{})
	defer close(stop)
	go decodeSnapshot(br, batches, stop)
	txn := db.Txn(true)
	defer txn.Abort()
	rows := make([]int, len(Tables))
	var n uint64
	for b := range batches {
		for _, row := range b.rows {
			if err := txn.Insert(Tables[row.table], row.rec); err != nil {
				return nil, fmt.Errorf("state: snapshot corrupt: row %d of %s: %w", n, Tables[row.table], err)
			}
			rows[row.table]++
			n++
		}
		if b.err != nil {
			return nil, b.err
		}
	}
	counts := map[string]int{}
	for ti, c := range rows {
		counts[Tables[ti]] = c
	}
	addCounts(txn, counts)
	txn.Commit()
	return db, nil
}

type snapshotRow struct {
	table int
	rec   proto.Message
}

// snapshotBatch is rows decoded in order; err, on the last batch, ends the
// snapshot as broken.
type snapshotBatch struct {
	rows []snapshotRow
	err  error
}

// decodeSnapshot reads and decodes the rows after the header, sending them
// in batches; the last batch carries the error, if any. It stops early when
// stop closes.
func decodeSnapshot(br *bufio.Reader, out chan<- snapshotBatch, stop <-chan struct{}) {
	defer close(out)
	const size = 1024
	batch := make([]snapshotRow, 0, size)
	send := func(err error) bool {
		select {
		case out <- snapshotBatch{rows: batch, err: err}:
			batch = make([]snapshotRow, 0, size)
			return true
		case <-stop:
			return false
		}
	}
	fail := func(format string, args ...any) { send(fmt.Errorf(format, args...)) }
	var n uint64
	buf := make([]byte, 0, 1024)
	for {
		t, err := binary.ReadUvarint(br)
		if err != nil {
			fail("state: snapshot truncated after %d rows: %w", n, err)
			return
		}
		if t == 0 {
			break
		}
		if t > uint64(len(Tables)) {
			fail("state: snapshot corrupt: row %d has table number %d", n, t)
			return
		}
		l, err := binary.ReadUvarint(br)
		if err != nil || l > 64<<20 {
			fail("state: snapshot truncated or corrupt at row %d (length %d): %v", n, l, err)
			return
		}
		if uint64(cap(buf)) < l {
			buf = make([]byte, l)
		}
		buf = buf[:l]
		if _, err := io.ReadFull(br, buf); err != nil {
			fail("state: snapshot truncated in row %d: %w", n, err)
			return
		}
		rec := newRecord(int(t - 1))
		if err := proto.Unmarshal(buf, rec); err != nil {
			fail("state: snapshot corrupt: row %d of %s: %w", n, Tables[t-1], err)
			return
		}
		batch = append(batch, snapshotRow{table: int(t - 1), rec: rec})
		n++
		if len(batch) == size && !send(nil) {
			return
		}
	}
	want, err := binary.ReadUvarint(br)
	switch {
	case err != nil:
		fail("state: snapshot truncated: no row count at the end: %w", err)
	case want != n:
		fail("state: snapshot corrupt: %d rows read, trailer says %d", n, want)
	default:
		send(nil)
	}
}

// OpenEphemeral returns an in-memory Store: commands are applied at once
// and nothing survives the process.
func OpenEphemeral() *Store {
	db, err := NewDB()
	if err != nil {
		panic(err) // the schema is static: only a programming error gets here
	}
	s := &Store{fsm: &fsm{}}
	s.fsm.db.Store(db)
	return s
}

// Open opens (creating it if needed) the durable Store in dir: raft with a
// single voter, log and stable store in dir/raft.db, snapshots under
// dir/snapshots. It returns once the latest snapshot and the log after it
// have been replayed. A corrupt latest snapshot is refused with an error
// naming its file rather than silently falling back.
func Open(dir string, opts Options) (*Store, error) {
	opts.defaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	hl := newHCLogger(opts.Logger, *opts.RaftLogLevel)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, opts.RetainSnapshots, hl)
	if err != nil {
		return nil, fmt.Errorf("state: snapshot store in %s: %w", dir, err)
	}
	if err := checkLatestSnapshot(dir, snaps); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, LogDir)
	logs, err := openLogStore(dir, hl)
	if err != nil {
		return nil, err
	}
	s := &Store{fsm: &fsm{}, logs: logs, snaps: snaps, dir: dir, opts: opts}
	db, _ := NewDB()
	s.fsm.db.Store(db)

	conf := raft.DefaultConfig()
	conf.LocalID = "buildmaster"
	conf.Logger = hl
	conf.HeartbeatTimeout = 100 * time.Millisecond
	conf.ElectionTimeout = 100 * time.Millisecond
	conf.LeaderLeaseTimeout = 100 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.MaxAppendEntries = 1024
	conf.BatchApplyCh = true
	conf.SnapshotThreshold = opts.SnapshotThreshold
	conf.SnapshotInterval = opts.SnapshotInterval
	conf.TrailingLogs = opts.TrailingLogs
	conf.NoLegacyTelemetry = true

	addr, trans := raft.NewInmemTransport(raft.ServerAddress("buildmaster"))
	s.trans = trans
	existing, err := raft.HasExistingState(logs, logs, snaps)
	if err != nil {
		logs.Close()
		return nil, fmt.Errorf("state: reading raft state in %s: %w", logPath, err)
	}
	if !existing {
		cfg := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: conf.LocalID, Address: addr}}}
		if err := raft.BootstrapCluster(conf, logs, logs, snaps, trans, cfg); err != nil {
			logs.Close()
			return nil, fmt.Errorf("state: bootstrapping raft in %s: %w", dir, err)
		}
	}
	r, err := raft.NewRaft(conf, s.fsm, logs, logs, snaps, trans)
	if err != nil {
		logs.Close()
		return nil, fmt.Errorf("state: starting raft in %s: %w", dir, err)
	}
	s.raft = r
	s.fsm.mu.Lock()
	rerr := s.fsm.restoreErr
	s.fsm.mu.Unlock()
	if rerr != nil {
		s.Close()
		where := filepath.Join(dir, SnapshotDir)
		if list, err := snaps.List(); err == nil && len(list) > 0 {
			where = filepath.Join(where, list[0].ID, "state.bin")
		}
		return nil, fmt.Errorf("state: restoring snapshot %s failed (%v); refusing to start rather than fall back to an older snapshot", where, rerr)
	}
	// Wait to lead, then for a barrier: every entry already in the log is applied.
	deadline := time.Now().Add(opts.StartTimeout)
	for r.State() != raft.Leader {
		if time.Now().After(deadline) {
			s.Close()
			return nil, fmt.Errorf("state: raft in %s did not become leader within %v", dir, opts.StartTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := r.Barrier(time.Until(deadline)).Error(); err != nil {
		s.Close()
		return nil, fmt.Errorf("state: replaying raft log in %s: %w", dir, err)
	}
	return s, nil
}

// checkLatestSnapshot opens (and so CRC-checks) the newest snapshot, and
// refuses to start if it is damaged: raft would otherwise fall back to an
// older snapshot whose following log entries may already be compacted away.
func checkLatestSnapshot(dir string, snaps *raft.FileSnapshotStore) error {
	list, err := snaps.List()
	if err != nil {
		return fmt.Errorf("state: listing snapshots in %s: %w", filepath.Join(dir, SnapshotDir), err)
	}
	if len(list) == 0 {
		// raft.List skips snapshots whose meta.json cannot be read; make sure none is there.
		return checkSnapshotDirs(dir, nil)
	}
	if err := checkSnapshotDirs(dir, list); err != nil {
		return err
	}
	_, rc, err := snaps.Open(list[0].ID)
	path := filepath.Join(dir, SnapshotDir, list[0].ID, "state.bin")
	if err != nil {
		return fmt.Errorf("state: snapshot %s is damaged (%v); refusing to start: acknowledged writes could be lost. Move that snapshot directory away only if the log still covers index %d", path, err, list[0].Index)
	}
	rc.Close()
	return nil
}

func checkSnapshotDirs(dir string, listed []*raft.SnapshotMeta) error {
	ents, err := os.ReadDir(filepath.Join(dir, SnapshotDir))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	ok := map[string]bool{}
	for _, m := range listed {
		ok[m.ID] = true
	}
	for _, e := range ents {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") || ok[e.Name()] {
			continue
		}
		path := filepath.Join(dir, SnapshotDir, e.Name())
		if len(listed) > 0 && olderSnapshot(e.Name(), listed[0]) {
			// Older than the newest listed: beyond the retained ones (List
			// lists only those), or half removed (raft removes old snapshots
			// meta.json first, and a stop in the middle leaves the rest).
			// The newest snapshot is whole, so finish the removal.
			if err := os.RemoveAll(path); err != nil {
				return fmt.Errorf("state: removing the half-removed old snapshot %s: %w", path, err)
			}
			continue
		}
		return fmt.Errorf("state: snapshot %s has no readable meta.json; refusing to start", path)
	}
	return nil
}

// olderSnapshot reports whether the snapshot directory name (raft's
// term-index-millis) is of a snapshot older than newest.
func olderSnapshot(name string, newest *raft.SnapshotMeta) bool {
	var term, index, ms uint64
	if n, err := fmt.Sscanf(name, "%d-%d-%d", &term, &index, &ms); err != nil || n != 3 || name != fmt.Sprintf("%d-%d-%d", term, index, ms) {
		return false
	}
	return term < newest.Term || (term == newest.Term && index < newest.Index)
}

// Future is a submitted command: Wait returns once it is durable and applied.
type Future struct {
	f   raft.ApplyFuture
	res *messages.CommandResult
	err error
}

// Wait blocks until the command is committed to disk and applied, and
// returns Apply's result. Bad commands come back as errors wrapping
// ErrBadCommand; they are in the log but wrote nothing.
func (f *Future) Wait() (*messages.CommandResult, error) {
	if f.f == nil {
		return f.res, f.err
	}
	if err := f.f.Error(); err != nil {
		return nil, fmt.Errorf("state: raft: %w", err)
	}
	a, _ := f.f.Response().(applied)
	return a.res, a.err
}

// ErrClosed is returned for commands submitted to a closed Store.
var ErrClosed = errors.New("state: store is closed")

// Submit hands cmd to raft (or, ephemeral, applies it) and returns a Future.
// It can block briefly when raft's apply queue is full (backpressure); an
// actor should use SubmitAsync, which never blocks its caller.
func (s *Store) Submit(cmd *messages.Command) *Future {
	if s.closed.Load() {
		return &Future{err: ErrClosed}
	}
	if cmd == nil {
		return &Future{err: fmt.Errorf("%w: command: nil command", ErrBadCommand)}
	}
	if s.raft == nil {
		// Validate the encoding as raft would see it, then apply.
		data, err := proto.Marshal(cmd)
		if err != nil {
			return &Future{err: fmt.Errorf("%w: encoding command: %v", ErrBadCommand, err)}
		}
		dec := &messages.Command{}
		if err := proto.Unmarshal(data, dec); err != nil {
			return &Future{err: fmt.Errorf("%w: decoding command: %v", ErrBadCommand, err)}
		}
		res, err := s.fsm.apply(dec)
		return &Future{res: res, err: err}
	}
	// What can be refused without the database is refused before it
	// reaches the journal.
	if ac := cmd.GetAddChange(); ac != nil {
		if err := CheckAddChange(ac); err != nil {
			return &Future{err: err}
		}
	}
	data, err := proto.Marshal(cmd)
	if err != nil {
		return &Future{err: fmt.Errorf("%w: encoding command: %v", ErrBadCommand, err)}
	}
	return &Future{f: s.raft.Apply(data, 0)}
}

// SubmitWait submits cmd and waits for it, or for ctx to end (the command
// may still be applied after ctx ends).
func (s *Store) SubmitWait(ctx context.Context, cmd *messages.Command) (*messages.CommandResult, error) {
	type out struct {
		res *messages.CommandResult
		err error
	}
	ch := make(chan out, 1)
	s.SubmitAsync(cmd, func(res *messages.CommandResult, err error) { ch <- out{res, err} })
	select {
	case o := <-ch:
		return o.res, o.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// SubmitAsync submits cmd and calls done from another goroutine once it is
// durable and applied (or failed). It never blocks: an actor passes a done
// that sends the result to itself (e.g. ctx.Send(self, …)).
func (s *Store) SubmitAsync(cmd *messages.Command, done func(*messages.CommandResult, error)) {
	go func() { done(s.Submit(cmd).Wait()) }()
}

// Read returns an immutable read transaction of the current state. It
// never waits for writers; abort it (or just drop it) when done.
func (s *Store) Read() *memdb.Txn { return s.fsm.db.Load().Txn(false) }

// Stats is what GET /debug/db shows.
type Stats struct {
	Durable           bool
	Dir               string
	Rows              map[string]int
	LastIndex         uint64 // raft last log index
	LastTerm          uint64
	AppliedIndex      uint64
	LastSnapshotIndex uint64
	LastSnapshotTerm  uint64
	LastSnapshotTime  time.Time // zero when there is none
	JournalBytes      int64     // the raft log (LogDir) on disk
	SnapshotBytes     int64     // snapshot files on disk
}

// Stats reports the rows per table, raft's position and disk usage.
func (s *Store) Stats() Stats {
	st := Stats{Durable: s.raft != nil, Dir: s.dir, Rows: map[string]int{}}
	txn := s.Read()
	for _, t := range Tables {
		st.Rows[t] = Count(txn, t)
	}
	if s.raft == nil {
		return st
	}
	rs := s.raft.Stats()
	u := func(k string) uint64 { v, _ := strconv.ParseUint(rs[k], 10, 64); return v }
	st.LastIndex, st.LastTerm, st.AppliedIndex = u("last_log_index"), u("last_log_term"), u("applied_index")
	st.LastSnapshotIndex, st.LastSnapshotTerm = u("last_snapshot_index"), u("last_snapshot_term")
	if list, err := s.snaps.List(); err == nil && len(list) > 0 {
		// raft's snapshot ids are term-index-unixmillis.
		parts := strings.Split(list[0].ID, "-")
		if ms, err := strconv.ParseInt(parts[len(parts)-1], 10, 64); err == nil {
			st.LastSnapshotTime = time.UnixMilli(ms).UTC()
		}
	}
	st.JournalBytes = diskUsage(filepath.Join(s.dir, LogDir))
	st.SnapshotBytes = diskUsage(filepath.Join(s.dir, SnapshotDir))
	return st
}

// diskUsage is the bytes the files under dir take on disk (segment files
// are preallocated sparse files, so their length would overstate it).
func diskUsage(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					n += st.Blocks * 512
				} else {
					n += fi.Size()
				}
			}
		}
		return nil
	})
	return n
}

// Snapshot asks raft for a snapshot now (normally raft takes them by itself).
func (s *Store) Snapshot() error {
	if s.raft == nil {
		return nil
	}
	return s.raft.Snapshot().Error()
}

// Close takes a snapshot (so that the next Open need not replay the log),
// stops raft and closes the files. Commands submitted after Close fail with
// ErrClosed; commands submitted before it are applied first.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.raft == nil {
			return
		}
		if !s.opts.NoSnapshotOnClose && s.raft.State() == raft.Leader {
			_ = s.raft.Barrier(10 * time.Second).Error()
			if err := s.raft.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
				s.opts.Logger.Warn("state: snapshot on close failed", "dir", s.dir, "error", err)
			}
		}
		s.closeErr = s.raft.Shutdown().Error()
		if err := s.trans.Close(); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
		if err := s.logs.Close(); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
	})
	return s.closeErr
}

// hclog → slog: raft logs through an hclog.Logger writing JSON lines into
// slogWriter, which turns each line into one slog record.
func newHCLogger(l *slog.Logger, level slog.Level) hclog.Logger {
	var hl hclog.Level
	switch {
	case level <= slog.LevelDebug:
		hl = hclog.Debug
	case level <= slog.LevelInfo:
		hl = hclog.Info
	case level <= slog.LevelWarn:
		hl = hclog.Warn
	default:
		hl = hclog.Error
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "raft",
		Level:      hl,
		JSONFormat: true,
		Output:     &slogWriter{l: l},
	})
}

type slogWriter struct{ l *slog.Logger }

// expected are raft's warnings that are the normal course of a single
// voter's start, not something an operator should act on.
var expected = map[string]bool{
	"heartbeat timeout reached, starting election": true,
}

func (w *slogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimSpace(p), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			w.l.Warn(string(line))
			continue
		}
		lvl := slog.LevelInfo
		switch m["@level"] {
		case "trace", "debug":
			lvl = slog.LevelDebug
		case "warn":
			lvl = slog.LevelWarn
		case "error":
			lvl = slog.LevelError
		}
		msg, _ := m["@message"].(string)
		if expected[msg] {
			lvl = slog.LevelDebug
		}
		attrs := make([]any, 0, 2*len(m))
		for k, v := range m {
			if strings.HasPrefix(k, "@") {
				if k == "@module" {
					attrs = append(attrs, "module", v)
				}
				continue
			}
			attrs = append(attrs, k, v)
		}
		w.l.Log(context.Background(), lvl, msg, attrs...)
	}
	return len(p), nil
}
