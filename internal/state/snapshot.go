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
	case TableBuildsetArchive:
		return &messages.BuildsetSegment{}
	case TableChangeArchive:
		return &messages.ChangeSegment{}
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
func ReadSnapshot(r io.Reader) (*memdb.MemDB, error) { return readSnapshot(r, 0, nil) }

// readSnapshot is ReadSnapshot of a snapshot of size bytes (0: unknown),
// counting in progress (when not nil) as it goes the rows inserted and the
// bytes of the snapshot they came from: bytes read but not yet inserted are
// not counted. The size lets it prepare the heap (prepareRestoreHeap).
func readSnapshot(r io.Reader, size int64, progress *restoreProgress) (*memdb.MemDB, error) {
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
		if progress != nil {
			progress.bytes.Add(b.bytes) // before rows: whoever sees the rows sees their bytes
			progress.rows.Store(n)
		}
		if b.err != nil {
			return nil, b.err
		}
	}
	archived := map[string]int{}
	restoredCounts(txn, archived)
	for table, c := range archived {
		rows = addDelta(rows, table, c)
	}
	addCounts(txn, rows)
	txn.Commit()
	return db, nil
}

type snapshotRow struct {
	table int
	rec   proto.Message
}

// restoreProgress is how far readSnapshot is.
type restoreProgress struct {
	rows  atomic.Uint64 // rows inserted
	bytes atomic.Int64  // bytes of the snapshot those rows came from
}

// snapshotBatch is rows decoded in order, from bytes of the snapshot; err,
// on the last batch, ends the snapshot as broken.
type snapshotBatch struct {
	rows  []snapshotRow
	bytes int64
	err   error
}

// decodeSnapshot reads and decodes the rows after the header, sending them
// in batches; the last batch carries the error, if any. It stops early when
// stop closes.
func decodeSnapshot(br *bufio.Reader, out chan<- snapshotBatch, stop <-chan struct{}) {
	defer close(out)
	const size = 1024
	batch := make([]snapshotRow, 0, size)
	consumed := int64(len(snapshotMagic)) // of the snapshot, by batch
	send := func(err error) bool {
		select {
		case out <- snapshotBatch{rows: batch, bytes: consumed, err: err}:
			batch, consumed = make([]snapshotRow, 0, size), 0
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
		consumed += int64(uvarintLen(t))
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
		consumed += int64(uvarintLen(l)) + int64(l)
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
		consumed += int64(uvarintLen(want))
		send(nil)
	}
}

// uvarintLen is the length of x's uvarint encoding.
func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}
