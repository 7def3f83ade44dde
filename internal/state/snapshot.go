package state

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// snapshotMagic starts every snapshot; the format is: magic, then for each
// row (tables in Tables order, rows in id order) uvarint(table number + 1),
// uvarint(length), protobuf record; then uvarint(0), uvarint(row count).
const snapshotMagic = "BMSNAP01"

// newRecord returns an empty record of Tables[table], for decoding.
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
	case TableReporters:
		return &messages.Reporter{}
	case TableOutbox:
		return &messages.OutboxEntry{}
	case TableChangeUsers:
		return &messages.ChangeUser{}
	case TableApiTokens:
		return &messages.ApiToken{}
	case TableIDFloors:
		return &messages.IdFloor{}
	case TableWebSessions:
		return &messages.WebSession{}
	case TableArchive:
		return &messages.ArchiveSegment{}
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
// Rows are read and decoded in one goroutine while two others insert them:
// one the changes (the most rows by far), one the other tables
// (sideInserter).
func ReadSnapshot(r io.Reader) (*memdb.MemDB, error) { return readSnapshot(r, 0, nil) }

// readSnapshot is ReadSnapshot of a snapshot of size bytes (0: unknown),
// counting the rows inserted in rows (when not nil) as it goes. The size
// lets it prepare the heap (prepareRestoreHeap).
func readSnapshot(r io.Reader, size int64, progress *atomic.Uint64) (*memdb.MemDB, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return nil, fmt.Errorf("state: snapshot: not a buildmaster snapshot (bad header)")
	}
	db, err := NewDB()
	if err != nil {
		return nil, err
	}
	restoreGC.begin()
	defer restoreGC.end()
	defer prepareRestoreHeap(size)()
	batches := make(chan snapshotBatch, 8)
	stop := make(chan struct{})
	defer close(stop)
	go decodeSnapshot(br, batches, stop)
	txn := db.Txn(true)
	defer txn.Abort()
	if err := openIndexes(txn); err != nil {
		return nil, err
	}
	if progress == nil {
		progress = new(atomic.Uint64)
	}
	side := newSideInserter(txn, progress)
	rows := make([]int, len(Tables))
	var n uint64
	for b := range batches {
		var mine uint64
		for i, row := range b.rows {
			rows[row.table]++
			if Tables[row.table] == sideTable {
				side.add(row, n+uint64(i))
				continue
			}
			if err := txn.Insert(Tables[row.table], row.rec); err != nil {
				side.wait()
				return nil, fmt.Errorf("state: snapshot corrupt: row %d of %s: %w", n+uint64(i), Tables[row.table], err)
			}
			mine++
		}
		n += uint64(len(b.rows))
		progress.Add(mine)
		if b.err != nil {
			side.wait()
			return nil, b.err
		}
	}
	if err := side.wait(); err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for ti, c := range rows {
		counts[Tables[ti]] = c
	}
	restoredCounts(txn, counts)
	addCounts(txn, counts)
	txn.Commit()
	return db, nil
}

// openIndexes makes txn's writable transaction of every index of every
// table, by inserting and deleting an empty record in each. go-memdb makes
// an index's the first time a write reaches the index, in a map of the
// transaction's; once they all exist, an Insert reads that map and the
// schema and writes only its own table's index trees, so Inserts into
// different tables may run at once (the side inserter; the race detector
// checks it in every restore test).
func openIndexes(txn *memdb.Txn) error {
	for ti, table := range Tables {
		rec := newRecord(ti)
		if err := txn.Insert(table, rec); err != nil {
			return fmt.Errorf("state: snapshot: opening the indexes of %s: %w", table, err)
		}
		if err := txn.Delete(table, rec); err != nil {
			return fmt.Errorf("state: snapshot: opening the indexes of %s: %w", table, err)
		}
	}
	return nil
}

// sideTable is the table whose rows a restore inserts on a goroutine of
// their own: 1M changes are four fifths of the history's rows.
const sideTable = TableChanges

// sideInserter inserts the rows of sideTable, given in batches, on its own
// goroutine, into txn (openIndexes must have run).
type sideInserter struct {
	txn      *memdb.Txn
	progress *atomic.Uint64
	batch    []snapshotRow
	first    uint64 // the row number of batch[0]
	in       chan sideBatch
	done     chan error
	stopped  bool
}

type sideBatch struct {
	rows  []snapshotRow
	first uint64
}

func newSideInserter(txn *memdb.Txn, progress *atomic.Uint64) *sideInserter {
	s := &sideInserter{txn: txn, progress: progress, in: make(chan sideBatch, 8), done: make(chan error, 1)}
	go s.run()
	return s
}

// add queues row, the snapshot's row number n.
func (s *sideInserter) add(row snapshotRow, n uint64) {
	if len(s.batch) == 0 {
		s.first = n
	}
	s.batch = append(s.batch, row)
	if len(s.batch) == 1024 {
		s.flush()
	}
}

func (s *sideInserter) flush() {
	if len(s.batch) > 0 {
		s.in <- sideBatch{rows: s.batch, first: s.first}
		s.batch = make([]snapshotRow, 0, 1024)
	}
}

// wait hands over what is queued and returns the first error of the
// side's inserts, once they are done.
func (s *sideInserter) wait() error {
	if !s.stopped {
		s.flush()
		close(s.in)
		s.stopped = true
	}
	err := <-s.done
	s.done <- err
	return err
}

func (s *sideInserter) run() {
	var err error
	for b := range s.in {
		if err != nil {
			continue // drain
		}
		for i, row := range b.rows {
			if err = s.txn.Insert(sideTable, row.rec); err != nil {
				err = fmt.Errorf("state: snapshot corrupt: row %d of %s: %w", b.first+uint64(i), sideTable, err)
				break
			}
		}
		s.progress.Add(uint64(len(b.rows)))
	}
	s.done <- err
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
