package state

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/migrate"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testOpts() Options {
	return Options{Logger: quiet(), SnapshotThreshold: 64, TrailingLogs: 16, SnapshotInterval: 50 * time.Millisecond}
}

// goldenCommands is a fixed sequence using every command, bad ones included
// (5 of them).
func goldenCommands() []*messages.Command {
	cmds := []*messages.Command{masterStarted(0, "m1", 1000), builder("b1"), builder("b2")}
	for i := 0; i < 40; i++ {
		branch := []string{"main", "dev"}[i%2]
		cmds = append(cmds, addChange(change(fmt.Sprintf("dev%d", i%5), branch, int64(1001+i))))
	}
	cmds = append(cmds,
		addChange(&messages.Change{Author: "", WhenTimestamp: 1}), // refused
		buildset(1100, 1, 2), buildset(1101, 1), claim(1, 1102, 1, 3),
		claim(1, 1103, 3), // refused: already claimed
		addBuild(1, 1, 1, 1104), addBuild(1, 3, 1, 1105), addStep(1, "compile", 1106), addStep(1, "test", 1107),
		addLog(1, "stdio"), addLog(2, "stdio"), appendLog(1, "line 1\nline 2\n"), appendLog(1, "line 3"),
		&messages.Command{}, // refused
		masterStarted(0, "m1", 2000),
		claim(1, 2001, 2), addBuild(2, 2, 1, 2002),
	)
	for i := 0; i < 40; i++ {
		cmds = append(cmds, addChange(change(fmt.Sprintf("late%d", i%3), "main", int64(3000+i))))
	}
	lastRev := func(v string) *messages.SetObjectState {
		return &messages.SetObjectState{ObjectName: "poll", ClassName: "GitPoller", Name: "lastRev", ValueJson: v}
	}
	cmds = append(cmds,
		cmd(&messages.AddChange{Change: change("poller", "main", 3100), State: lastRev(`{"main":"rev-poller"}`)}),
		cmd(&messages.AddChange{Change: change("poller2", "main", 3101), State: lastRev(`{"main":`)}), // refused
	)
	// Finished history archived, then written over: the retried requests 1
	// and 3 are built again (builds 4, 5) and buildset 1 completes with build
	// 3; build 6 makes build 3 not builder 2's newest.
	cmds = append(cmds,
		claim(1, 3200, 1, 3), addBuild(1, 1, 1, 3200), addBuild(1, 3, 1, 3200),
		cmd(&messages.FinishBuild{Buildid: 4, Results: ResultSuccess, CompleteAt: 3201, Brids: []uint64{1}}),
		cmd(&messages.FinishBuild{Buildid: 5, Results: ResultSuccess, CompleteAt: 3201, Brids: []uint64{3}}),
		cmd(&messages.FinishBuild{Buildid: 3, Results: ResultFailure, CompleteAt: 3202, Brids: []uint64{2}}),
		buildset(3203, 2), claim(1, 3204, 4), addBuild(2, 4, 1, 3204),
		archive(1, 2),
		archiveSets(2), // refused: build 5 is builder 1's newest
		archiveSets(1),
		archiveChanges(seqIDs(1, 40)...),
		cmd(&messages.Expire{Changes: []uint64{1, 2}}),
		addChange(change("dev-late", "dev", 3205)), // its parent, change 40, is archived
	)
	return cmds
}

func TestReplayGolden(t *testing.T) {
	cmds := goldenCommands()
	half := len(cmds) / 2

	// 1. Live, in memory.
	live := OpenEphemeral()
	for _, c := range cmds {
		live.Submit(c).Wait()
	}
	var liveDump bytes.Buffer
	if err := Dump(&liveDump, live.Read()); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "live", live.Read())

	// 2. Snapshot half-way, restore into a fresh database, apply the rest.
	db := newDB(t)
	for _, c := range cmds[:half] {
		txn := db.Txn(true)
		if _, err := Apply(txn, c); err != nil {
			txn.Abort()
		} else {
			txn.Commit()
		}
	}
	var snap bytes.Buffer
	if err := WriteSnapshot(&snap, db.Txn(false)); err != nil {
		t.Fatal(err)
	}
	fresh, err := ReadSnapshot(&snap)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds[half:] {
		txn := fresh.Txn(true)
		if _, err := Apply(txn, c); err != nil {
			txn.Abort()
		} else {
			txn.Commit()
		}
	}
	if got := dump(t, fresh); got != liveDump.String() {
		t.Fatalf("snapshot+replay differs from live:\n%s\n---\n%s", got, liveDump.String())
	}

	// 3. Durable: half, raft snapshot, close, reopen (restore snapshot), rest, close, reopen (snapshot + log).
	dir := t.TempDir()
	opts := Options{Logger: quiet(), SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds[:half] {
		s.Submit(c).Wait()
	}
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds[half:] {
		s.Submit(c).Wait()
	}
	s.Close()
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var durable bytes.Buffer
	Dump(&durable, s.Read())
	checkCounts(t, "durable, reopened", s.Read())
	if durable.String() != liveDump.String() {
		t.Fatalf("durable snapshot+log replay differs from live:\n%s\n---\n%s", durable.String(), liveDump.String())
	}
	st := s.Stats()
	if st.LastSnapshotIndex == 0 || st.LastSnapshotTime.IsZero() || st.JournalBytes == 0 || st.Rows[TableChanges] != 80 || st.Rows[TableObjectState] != 1 {
		t.Fatalf("stats %+v", st)
	}

	testkit.Golden(t, filepath.Join("testdata", "replay.golden"), liveDump.Bytes())
}

// checkCounts fails unless Count agrees with the rows of every table.
func checkCounts(t *testing.T, what string, txn *memdb.Txn) {
	t.Helper()
	nonzero := 0
	for _, table := range Tables {
		it, err := txn.Get(table, IndexID+"_prefix")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for raw := it.Next(); raw != nil; raw = it.Next() {
			n++
		}
		if table == TableSteps || table == TableLogs {
			n += decodedArchived(t, txn, table) // Count includes them
		}
		if inSetArchive(table, IndexID) {
			n += decodedArchivedSets(t, txn, table)
		}
		if table == TableChanges {
			for raw := range scanTable(txn, TableChangeArchive, IndexID+"_prefix", false) {
				n += len(raw.(*messages.ChangeSegment).Changeids) // Count includes them
			}
		}
		if got := Count(txn, table); got != n {
			t.Errorf("%s: Count(%s) = %d, table has %d rows", what, table, got, n)
		}
		if n > 0 {
			nonzero++
		}
	}
	if nonzero < 5 {
		t.Errorf("%s: only %d tables have rows; the check proves little", what, nonzero)
	}
}

// decodedArchived counts the steps (table steps) or logs the archive
// holds by decoding every archived build, not from the segments' id lists
// that Count's upkeep reads.
func decodedArchived(t *testing.T, txn *memdb.Txn, table string) int {
	t.Helper()
	n := 0
	for raw := range scanTable(txn, TableArchive, IndexID+"_prefix", false) {
		s := raw.(*messages.ArchiveSegment)
		for i := range s.Buildids {
			b, err := stepArchive.decode(s, i)
			if err != nil {
				t.Fatal(err)
			}
			if table == TableSteps {
				n += len(b.Steps)
			} else {
				n += len(b.Logs)
			}
		}
	}
	return n
}

func submitChanges(t testing.TB, s *Store, from, n, writers int) map[uint64]string {
	t.Helper()
	var mu sync.Mutex
	acked := map[uint64]string{}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := from + w; i < from+n; i += writers {
				author := fmt.Sprintf("author-%d", i)
				res, err := s.Submit(addChange(change(author, "main", int64(i+1)))).Wait()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[res.Id] = author
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	return acked
}

func checkAcked(t *testing.T, s *Store, acked map[uint64]string) {
	t.Helper()
	txn := s.Read()
	for id, author := range acked {
		c, err := get[*messages.Change](txn, TableChanges, IndexID, id)
		if err != nil || c == nil || c.Author != author {
			t.Fatalf("acknowledged change %d (%s) lost: %v %v", id, author, c, err)
		}
	}
}

func TestDurableCloseReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	acked := submitChanges(t, s, 0, 600, 16)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Submit(addChange(change("x", "main", 1))).Wait(); !errors.Is(err, ErrClosed) {
		t.Fatalf("submit after close: %v", err)
	}
	s, err = Open(dir, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	checkAcked(t, s, acked)
	st := s.Stats()
	if st.Rows[TableChanges] != 600 || st.LastSnapshotIndex == 0 {
		t.Fatalf("stats %+v", st)
	}
	// Ids continue after a restart.
	res, err := s.Submit(addChange(change("next", "main", 1))).Wait()
	if err != nil || res.Id != 601 {
		t.Fatalf("next id %v %v", res, err)
	}
	s.Close()
}

// TestCrashChild is the child process of TestCrashKill9: it writes changes
// for ever and prints "ACK id author" for each acknowledged one.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("STATE_CRASH_DIR")
	if dir == "" {
		t.Skip("child of TestCrashKill9")
	}
	round, _ := strconv.Atoi(os.Getenv("STATE_CRASH_ROUND"))
	s, err := Open(dir, testOpts())
	if err != nil {
		fmt.Println("OPEN-ERROR", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	for w := 0; w < 32; w++ {
		go func(w int) {
			for i := 0; ; i++ {
				author := fmt.Sprintf("r%d-w%d-%d", round, w, i)
				res, err := s.Submit(addChange(change(author, "main", int64(i+1)))).Wait()
				if err != nil {
					continue
				}
				mu.Lock()
				fmt.Fprintf(out, "ACK %d %s\n", res.Id, author)
				out.Flush()
				mu.Unlock()
			}
		}(w)
	}
	select {}
}

func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	dir := t.TempDir()
	acked := map[uint64]string{}
	for round := 0; round < 4; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "STATE_CRASH_DIR="+dir, "STATE_CRASH_ROUND="+strconv.Itoa(round))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		n := 0
		want := 300 + 250*round
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 && f[0] == "ACK" {
				id, _ := strconv.ParseUint(f[1], 10, 64)
				if prev, ok := acked[id]; ok && prev != f[2] {
					t.Fatalf("round %d: id %d acknowledged twice (%s, %s)", round, id, prev, f[2])
				}
				acked[id] = f[2]
				n++
				if n == want {
					cmd.Process.Signal(syscall.SIGKILL)
				}
			} else if len(f) > 0 && f[0] == "OPEN-ERROR" {
				t.Fatalf("round %d: child could not open: %s", round, sc.Text())
			}
		}
		cmd.Wait()
		if n < want {
			t.Fatalf("round %d: child stopped after %d acks", round, n)
		}
		s, err := Open(dir, testOpts())
		if err != nil {
			t.Fatalf("round %d: reopen after kill -9: %v", round, err)
		}
		checkAcked(t, s, acked)
		// Nothing invented: every change is one a child submitted.
		it, _ := s.Read().Get(TableChanges, IndexID+"_prefix")
		rows := 0
		for raw := it.Next(); raw != nil; raw = it.Next() {
			c := raw.(*messages.Change)
			if !strings.HasPrefix(c.Author, "r") || c.Changeid != uint64(rows+1) {
				t.Fatalf("unexpected change %v", c)
			}
			rows++
		}
		t.Logf("round %d: %d acknowledged in total, %d rows (%d committed but unacknowledged)", round, len(acked), rows, rows-len(acked))
		s.Close()
	}
}

func TestTornLogTail(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Logger: quiet(), SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour, NoSnapshotOnClose: true}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	acked := submitChanges(t, s, 0, 200, 8)
	last, err := s.Submit(addChange(change("last", "main", 1))).Wait()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Tear the last append: garbage over the end of the newest segment's
	// written bytes (segments are preallocated, so that is its last
	// non-zero byte), as if the power went during the write.
	segs, _ := filepath.Glob(filepath.Join(dir, LogDir, "*.wal"))
	if len(segs) == 0 {
		t.Fatalf("no segment files in %s", filepath.Join(dir, LogDir))
	}
	slices.Sort(segs)
	path := segs[len(segs)-1]
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	end := len(data)
	for end > 0 && data[end-1] == 0 {
		end--
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte{0xAB}, 24), int64(max(end-24, 0)))
	f.Close()

	s, err = Open(dir, opts)
	if err != nil {
		// Refusing is allowed, but only with an error naming the file.
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("refused without naming %s: %v", path, err)
		}
		t.Logf("refused: %v", err)
		return
	}
	defer s.Close()
	checkAcked(t, s, acked) // everything before the torn write is there
	c, _ := get[*messages.Change](s.Read(), TableChanges, IndexID, last.Id)
	t.Logf("torn final write: last change present=%v", c != nil)
	if _, err := s.Submit(addChange(change("after", "main", 1))).Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptSnapshotRefused(t *testing.T) {
	for _, how := range []string{"truncate", "flip", "meta"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Logger: quiet(), SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour, TrailingLogs: 10, NoSnapshotOnClose: true}
			s, err := Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			submitChanges(t, s, 0, 300, 8)
			if err := s.Snapshot(); err != nil {
				t.Fatal(err)
			}
			submitChanges(t, s, 300, 20, 1)
			s.Close()
			ents, _ := os.ReadDir(filepath.Join(dir, SnapshotDir))
			if len(ents) != 1 {
				t.Fatalf("snapshots: %v", ents)
			}
			snapDir := filepath.Join(dir, SnapshotDir, ents[0].Name())
			state := filepath.Join(snapDir, "state.bin")
			switch how {
			case "truncate":
				fi, _ := os.Stat(state)
				os.Truncate(state, fi.Size()/2)
			case "flip":
				flipSnapshotByte(t, dir, ents[0].Name())
			case "meta":
				os.WriteFile(filepath.Join(snapDir, "meta.json"), []byte("{"), 0o644)
				state = snapDir
			}
			_, err = Open(dir, opts)
			if err == nil {
				t.Fatal("opened a store with a damaged snapshot")
			}
			if !strings.Contains(err.Error(), state) {
				t.Fatalf("error does not name %s: %v", state, err)
			}
			t.Log(err)
		})
	}
}

func TestReadSnapshotTruncated(t *testing.T) {
	db := fixture(t)
	var b bytes.Buffer
	if err := WriteSnapshot(&b, db.Txn(false)); err != nil {
		t.Fatal(err)
	}
	full := b.Bytes()
	if _, err := ReadSnapshot(bytes.NewReader(full)); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(full); n++ {
		if _, err := ReadSnapshot(bytes.NewReader(full[:n])); err == nil {
			t.Fatalf("truncated snapshot of %d/%d bytes accepted", n, len(full))
		}
	}
}

func TestSubmitAsyncAndEphemeral(t *testing.T) {
	s := OpenEphemeral()
	done := make(chan uint64, 1)
	s.SubmitAsync(addChange(change("a", "main", 1)), func(res *messages.CommandResult, err error) {
		if err != nil {
			t.Error(err)
		}
		done <- res.Id
	})
	if id := <-done; id != 1 {
		t.Fatalf("id %d", id)
	}
	if st := s.Stats(); st.Durable || st.Rows[TableChanges] != 1 || st.Rows[TableSourceStamps] != 1 {
		t.Fatalf("stats %+v", st)
	}
	s.Close()
	if _, err := s.Submit(builder("x")).Wait(); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}

// A snapshot whose CRC is right but whose content is not ours is refused too
// (raft alone would fall back to an older snapshot).
func TestUnreadableSnapshotRefused(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Logger: quiet(), SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	submitChanges(t, s, 0, 50, 4)
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	snaps, err := raft.NewFileSnapshotStore(dir, 5, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// The newest snapshot: the same index and term as the latest, taken later.
	list, _ := snaps.List()
	_, trans := raft.NewInmemTransport("x")
	sink, err := snaps.Create(raft.SnapshotVersionMax, list[0].Index, list[0].Term, list[0].Configuration, list[0].ConfigurationIndex, trans)
	if err != nil {
		t.Fatal(err)
	}
	sink.Write([]byte("BMSNAP01 not really"))
	sink.Close()
	_, err = Open(dir, opts)
	if err == nil || !strings.Contains(err.Error(), "refusing to start") {
		t.Fatalf("err %v", err)
	}
	t.Log(err)
}

// ApplyBatch (one transaction for many commands, as raft's batching FSM
// calls it) gives exactly what applying them one by one gives, with and
// without a bad command in the batch.
func TestApplyBatchMatchesSingle(t *testing.T) {
	var good []*messages.Command
	probe := newDB(t)
	for _, c := range goldenCommands() {
		txn := probe.Txn(true)
		if _, err := Apply(txn, c); err != nil {
			txn.Abort()
			continue
		}
		txn.Commit()
		good = append(good, c)
	}
	if len(good) != len(goldenCommands())-5 {
		t.Fatalf("%d good commands", len(good))
	}
	for name, cmds := range map[string][]*messages.Command{"good": good, "with bad": goldenCommands()} {
		t.Run(name, func(t *testing.T) {
			single := newDB(t)
			var want []string
			for _, c := range cmds {
				txn := single.Txn(true)
				res, err := Apply(txn, c)
				if err != nil {
					txn.Abort()
					want = append(want, "error: "+err.Error())
					continue
				}
				txn.Commit()
				want = append(want, res.String())
			}
			f := &fsm{}
			db := newDB(t)
			f.db.Store(db)
			var logs []*raft.Log
			for i, c := range cmds {
				b, _ := proto.Marshal(c)
				logs = append(logs, &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: b})
			}
			out := f.ApplyBatch(logs)
			for i, o := range out {
				a := o.(applied)
				got := ""
				if a.err != nil {
					got = "error: " + a.err.Error()
				} else {
					got = a.res.String()
				}
				if got != want[i] {
					t.Fatalf("command %d: batch %q, single %q", i, got, want[i])
				}
			}
			if dump(t, db) != dump(t, single) {
				t.Fatal("batch and single application differ")
			}
		})
	}
}

// A directory written before the WAL (raft log in bbolt, dir/raft.db) opens
// with every acknowledged write, and its log now lives in dir/wal.
func TestMigrateBoltLog(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Logger: quiet(), SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour, NoSnapshotOnClose: true}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	acked := submitChanges(t, s, 0, 100, 4)
	s.Close()

	// Make dir look as the bbolt releases left it: the same log in raft.db.
	walDir := filepath.Join(dir, LogDir)
	meta := &metadb.BoltMetaDB{}
	src, err := wal.Open(walDir, wal.WithMetaStore(meta))
	if err != nil {
		t.Fatal(err)
	}
	old, err := raftboltdb.NewBoltStore(filepath.Join(dir, boltLogFile))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := migrate.CopyLogs(ctx, old, src, 1<<20, nil); err != nil {
		t.Fatal(err)
	}
	if err := migrate.CopyStable(ctx, old, src, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	src.Close()
	meta.Close()
	old.Close()
	if err := os.RemoveAll(walDir); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkAcked(t, s, acked)
	if _, err := os.Stat(filepath.Join(dir, boltLogFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there after the migration (%v)", boltLogFile, err)
	}
	if _, err := s.Submit(addChange(change("after", "main", 1))).Wait(); err != nil {
		t.Fatal(err)
	}
}

// A second Open of a directory that is open is refused at once, naming it;
// once the first is closed the directory opens again.
func TestOpenRefusesDirectoryInUse(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Logger: quiet(), NoSnapshotOnClose: true}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, opts); err == nil || !strings.Contains(err.Error(), "in use by another process") || !strings.Contains(err.Error(), dir) {
		s.Close()
		t.Fatalf("second Open of %s: %v, want an error naming it as in use", dir, err)
	}
	s.Close()
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatalf("reopening after Close: %v", err)
	}
	s.Close()
}

// A stop while raft removes an old snapshot (meta.json gone, state.bin
// left) is not a damaged snapshot: Open finishes the removal and starts.
// The same leftover newer than the latest snapshot is refused.
func TestHalfRemovedOldSnapshot(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Logger: quiet(), SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	acked := submitChanges(t, s, 0, 20, 2)
	s.Close() // takes a snapshot
	var term, index, ms uint64
	latest := func() {
		list, err := os.ReadDir(filepath.Join(dir, SnapshotDir))
		if err != nil || len(list) == 0 {
			t.Fatalf("snapshots: %v %v", list, err)
		}
		term, index = 0, 0
		for _, e := range list { // the newest: raft's names are term-index-millis
			var t, i, m uint64
			if fmt.Sscanf(e.Name(), "%d-%d-%d", &t, &i, &m); t > term || (t == term && i > index) {
				term, index, ms = t, i, m
			}
		}
	}
	latest()
	leftover := func(name string) string {
		p := filepath.Join(dir, SnapshotDir, name)
		os.MkdirAll(p, 0o755)
		os.WriteFile(filepath.Join(p, "state.bin"), []byte("half removed"), 0o644)
		return p
	}

	old := leftover(fmt.Sprintf("%d-%d-%d", term, index-1, ms-1))
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatalf("open with a half-removed older snapshot: %v", err)
	}
	checkAcked(t, s, acked)
	s.Close()
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s is still there (%v)", old, err)
	}

	latest()
	newer := leftover(fmt.Sprintf("%d-%d-%d", term+1, index+1, ms+1))
	if _, err := Open(dir, opts); err == nil || !strings.Contains(err.Error(), newer) {
		t.Fatalf("open with a newer snapshot without meta.json: %v, want a refusal naming it", err)
	}
}

// flipSnapshotByte damages snapshot id of the Store in dir: a byte in the
// middle of its state.bin, whose path it returns, is flipped.
func flipSnapshotByte(t *testing.T, dir, id string) string {
	t.Helper()
	state := filepath.Join(dir, SnapshotDir, id, "state.bin")
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xFF
	if err := os.WriteFile(state, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return state
}

// TestDamagedNewestSnapshotNoFallBack: when the newest of two snapshots
// fails its CRC, Open refuses to start, naming it, rather than let raft
// restore the older one (whose following log entries may be gone).
func TestDamagedNewestSnapshotNoFallBack(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Logger: quiet(), SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour, NoSnapshotOnClose: true, RetainSnapshots: 2}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		submitChanges(t, s, 100*i, 100, 4)
		if err := s.Snapshot(); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := snaps.List()
	if len(list) != 2 {
		t.Fatalf("%d snapshots, want 2", len(list))
	}
	state := flipSnapshotByte(t, dir, list[0].ID)
	_, err = Open(dir, opts)
	if err == nil || !strings.Contains(err.Error(), state) || !strings.Contains(err.Error(), "refusing to start") {
		t.Fatalf("Open with the newest snapshot damaged: %v; want a refusal naming %s", err, state)
	}
}

// TestDamagedSnapshotAfterStartFailsOnlyItsOpen: once the Store has
// started, a snapshot that does not open fails that Open only; later opens
// of good snapshots (raft sending one to a follower, a user's read) work.
func TestDamagedSnapshotAfterStartFailsOnlyItsOpen(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Logger: quiet(), SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour, NoSnapshotOnClose: true, RetainSnapshots: 2}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	submitChanges(t, s, 0, 10, 1)
	first := s.raft.Snapshot()
	if err := first.Error(); err != nil {
		t.Fatal(err)
	}
	list, err := s.snaps.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("snapshots %v, %v; want one", list, err)
	}
	state := flipSnapshotByte(t, dir, list[0].ID)
	if _, _, err := first.Open(); err == nil || !strings.Contains(err.Error(), state) {
		t.Fatalf("opening the damaged snapshot: %v; want an error naming %s", err, state)
	}
	submitChanges(t, s, 10, 10, 1)
	second := s.raft.Snapshot()
	if err := second.Error(); err != nil {
		t.Fatal(err)
	}
	_, rc, err := second.Open()
	if err != nil {
		t.Fatalf("opening a good snapshot after a damaged one: %v", err)
	}
	rc.Close()
}
