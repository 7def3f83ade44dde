package state

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
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
	// SnapshotInterval is how often raft checks the threshold, and the
	// Store checks SnapshotBytes and SnapshotAge (default 5s).
	SnapshotInterval time.Duration
	// SnapshotBytes of commands written since the last snapshot trigger a
	// new one (default 64 MiB), so that a few large commands do not make
	// a long replay.
	SnapshotBytes int64
	// SnapshotAge: a snapshot older than this is replaced by a new one
	// when commands were written since (default 1h), so that a quiet
	// master does not replay a day of commands at start.
	SnapshotAge time.Duration
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
	// ProgressInterval is how often Open logs how far the restore of the
	// snapshot and the replay of the log are (default 2s; negative: never).
	ProgressInterval time.Duration

	// SegmentSize is the size of a raft log segment file, preallocated
	// when the segment is created (default 64 MiB, raft-wal's).
	SegmentSize int
	// LogRecords, when set, receives the small logs' records commands
	// carry, also those Open replays, and is synced before each snapshot
	// (see LogRecords): it must be open before Open is called.
	LogRecords LogRecords

	wal walOptions // tests inject faults in the raft log with vfs and meta
	// leaseCheck is raft's lease timeout, and, a millisecond more, its
	// heartbeat and election timeouts (default defaultLeaseCheck); tests
	// make it longer than they wait.
	leaseCheck time.Duration
	// starting, when set (tests), is called with the Store before raft
	// starts restoring and replaying it.
	starting func(*Store)
}

// defaults fills in the zero fields with the defaults documented on them.
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
	if o.SnapshotBytes == 0 {
		o.SnapshotBytes = 64 << 20
	}
	if o.SnapshotAge == 0 {
		o.SnapshotAge = time.Hour
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
	if o.ProgressInterval == 0 {
		o.ProgressInterval = 2 * time.Second
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = wal.DefaultSegmentSize
	}
	if o.leaseCheck == 0 {
		o.leaseCheck = defaultLeaseCheck
	}
}

// defaultLeaseCheck is how often raft's leader checks its lease. A single
// voter never loses it: the check only wakes an idle master (raft's
// timer), so it runs once a second rather than ten times. The heartbeat
// and election timeouts, which may not be shorter, are not waited for: a
// single voter stands for election at once (kick).
const defaultLeaseCheck = time.Second

// Open opens (creating it if needed) the durable Store in dir: raft with a
// single voter, its log and stable store in dir/wal (LogDir; a dir/raft.db
// left by a release that kept the log in bbolt is moved there first), the
// directory locked against a second process (dir/LOCK, LockFile), and
// snapshots under dir/snapshots (SnapshotDir). It returns once the latest
// snapshot and the log after it have been replayed. A corrupt latest
// snapshot is refused with an error naming its file rather than silently
// falling back.
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
	if err := checkSnapshotDirs(dir, snaps); err != nil {
		return nil, err
	}
	h := &health{log: opts.Logger, dir: dir}
	wo := opts.wal
	wo.logger, wo.segmentSize = hl, opts.SegmentSize
	logs, err := openGuardedLog(dir, wo, h)
	if err != nil {
		return nil, err
	}
	st := newStartup(opts, snaps)
	s := &Store{fsm: &fsm{health: h, records: opts.LogRecords, log: opts.Logger}, logs: logs, snaps: snaps, health: h, dir: dir, opts: opts, stopped: make(chan struct{})}
	s.fsm.startup.Store(st)
	db, _ := NewDB()
	s.fsm.db.Store(db)
	stop := make(chan struct{})
	defer close(stop)
	go st.progress(stop, func() (uint64, uint64) {
		if r := s.raftPtr.Load(); r != nil {
			return s.fsm.index.Load(), r.LastIndex()
		}
		return 0, 0
	})
	if opts.starting != nil {
		opts.starting(s)
	}
	if err := s.startRaft(raftConfig(opts, hl)); err != nil {
		logs.Close()
		return nil, err
	}
	if err := s.restored(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.replayed(time.Now().Add(opts.StartTimeout)); err != nil {
		s.Close()
		return nil, err
	}
	s.fsm.startup.Store(nil)
	s.fsm.putMissing(s.Read())
	st.done(s.raft.LastIndex())
	s.runSnapshotPolicy()
	return s, nil
}

// raftConfig is raft's configuration for the single voter of a Store.
func raftConfig(opts Options, hl hclog.Logger) *raft.Config {
	conf := raft.DefaultConfig()
	conf.LocalID = "buildmaster"
	conf.Logger = hl
	// One millisecond more than the lease, so that kick can lower them.
	conf.HeartbeatTimeout = opts.leaseCheck + time.Millisecond
	conf.ElectionTimeout = conf.HeartbeatTimeout
	conf.LeaderLeaseTimeout = opts.leaseCheck
	conf.CommitTimeout = 5 * time.Millisecond
	// Up to this many commands share one journal write and fsync; raft
	// allocates a batch of this size at every commit (1024: 8 KiB each),
	// so not more than the master ever has waiting (BenchmarkSubmit).
	conf.MaxAppendEntries = 128
	conf.BatchApplyCh = true
	conf.SnapshotThreshold = opts.SnapshotThreshold
	conf.SnapshotInterval = opts.SnapshotInterval
	conf.TrailingLogs = opts.TrailingLogs
	conf.NoLegacyTelemetry = true
	return conf
}

// startRaft starts raft on the Store's log and snapshots, bootstrapping
// the single voter's configuration on a new directory. The caller closes
// the log if it fails.
func (s *Store) startRaft(conf *raft.Config) error {
	addr, trans := raft.NewInmemTransport(raft.ServerAddress("buildmaster"))
	s.trans = trans
	existing, err := raft.HasExistingState(s.logs, s.logs, s.snaps)
	if err != nil {
		return fmt.Errorf("state: reading raft state in %s: %w", filepath.Join(s.dir, LogDir), err)
	}
	if !existing {
		cfg := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: conf.LocalID, Address: addr}}}
		if err := raft.BootstrapCluster(conf, s.logs, s.logs, s.snaps, trans, cfg); err != nil {
			return fmt.Errorf("state: bootstrapping raft in %s: %w", s.dir, err)
		}
	}
	snaps := &snapshotStore{FileSnapshotStore: s.snaps, health: s.health, dir: s.dir}
	r, err := raft.NewRaft(conf, s.fsm, s.logs, s.logs, snaps, trans)
	damaged := snaps.startedUp()
	if err != nil {
		if damaged != nil {
			return damaged
		}
		return fmt.Errorf("state: starting raft in %s: %w", s.dir, err)
	}
	s.raft = r
	s.raftPtr.Store(r)
	s.kick()
	return nil
}

// kick makes the follower raft starts as stand for election now rather
// than after a heartbeat timeout (Options.leaseCheck): lowering the heartbeat
// timeout makes raft check it at once, and a single voter that has heard
// from no leader elects itself. Should raft refuse, it elects itself
// after the timeout.
func (s *Store) kick() {
	rc := s.raft.ReloadableConfig()
	rc.HeartbeatTimeout -= time.Millisecond
	rc.ElectionTimeout -= time.Millisecond
	if err := s.raft.ReloadConfig(rc); err != nil {
		s.opts.Logger.Warn("state: cannot start raft's election at once", slog.String("dir", s.dir), slog.Any("error", err))
	}
}

// restored fails, naming the snapshot's file, when raft's restore of the
// latest snapshot failed.
func (s *Store) restored() error {
	s.fsm.mu.Lock()
	rerr := s.fsm.restoreErr
	s.fsm.mu.Unlock()
	if rerr == nil {
		return nil
	}
	where := filepath.Join(s.dir, SnapshotDir)
	if list, err := s.snaps.List(); err == nil && len(list) > 0 {
		where = filepath.Join(where, list[0].ID, "state.bin")
	}
	return fmt.Errorf("state: restoring snapshot %s failed (%v); refusing to start rather than fall back to an older snapshot", where, rerr)
}

// replayed waits, until deadline, to lead, then for a barrier: every entry
// already in the log is applied.
func (s *Store) replayed(deadline time.Time) error {
	for s.raft.State() != raft.Leader {
		if time.Now().After(deadline) {
			return fmt.Errorf("state: raft in %s did not become leader within %v", s.dir, s.opts.StartTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.raft.Barrier(time.Until(deadline)).Error(); err != nil {
		return fmt.Errorf("state: replaying raft log in %s: %w", s.dir, err)
	}
	return nil
}
