package state

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// TestSnapshotRoundTrip restores a snapshot of a database with rows in
// every index of every table (everyIndexDB) and checks that the restored
// database is the same: every index of every table lists the same records in the same
// order, the row counts agree, and a snapshot of it is byte for byte the
// snapshot it came from.
func TestSnapshotRoundTrip(t *testing.T) {
	db := everyIndexDB(t)
	var snap bytes.Buffer
	if err := WriteSnapshot(&snap, db.Txn(false)); err != nil {
		t.Fatal(err)
	}
	restored, err := ReadSnapshot(bytes.NewReader(snap.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	sameIndexes(t, db.Txn(false), restored.Txn(false))
	checkCounts(t, "restored", restored.Txn(false))
	var again bytes.Buffer
	if err := WriteSnapshot(&again, restored.Txn(false)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), snap.Bytes()) {
		t.Fatalf("a snapshot of the restored database differs from the snapshot restored (%d and %d bytes)", again.Len(), snap.Len())
	}
}

// fillEmptyTables inserts, into each table no command of the fixture
// wrote to, three records whose scalar fields are set (populate).
func fillEmptyTables(t *testing.T, db *memdb.MemDB) {
	t.Helper()
	txn := writeTxn(db)
	for ti, table := range Tables {
		if Count(txn, table) > 0 {
			continue
		}
		for i := range 3 {
			rec := newRecord(ti)
			populate(rec.ProtoReflect(), i)
			if err := txn.Insert(table, rec); err != nil {
				t.Fatalf("%s: %v", table, err)
			}
		}
	}
	Recount(txn)
	txn.Commit()
}

// populate sets every scalar field of m from i: numbers to i+1, strings to
// the field's name and i, bools to true; a message field gets one
// populated message. Records made so differ in every field, ids included.
func populate(m protoreflect.Message, i int) {
	fields := m.Descriptor().Fields()
	for j := range fields.Len() {
		f := fields.Get(j)
		if f.IsList() || f.IsMap() {
			continue
		}
		var v protoreflect.Value
		switch f.Kind() {
		case protoreflect.StringKind:
			v = protoreflect.ValueOfString(fmt.Sprintf("%s-%d", f.Name(), i))
		case protoreflect.BytesKind:
			v = protoreflect.ValueOfBytes([]byte{byte(i)})
		case protoreflect.BoolKind:
			v = protoreflect.ValueOfBool(true)
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			v = protoreflect.ValueOfUint64(uint64(i + 1))
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			v = protoreflect.ValueOfUint32(uint32(i + 1))
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			v = protoreflect.ValueOfInt64(int64(i + 1))
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			v = protoreflect.ValueOfInt32(int32(i + 1))
		case protoreflect.MessageKind:
			populate(m.Mutable(f).Message(), i)
			continue
		default:
			continue
		}
		m.Set(f, v)
	}
}

// sameIndexes fails unless every index of every table lists equal records
// in the same order in want and got, and fails if an index has no rows
// (the comparison would prove little).
func sameIndexes(t *testing.T, want, got *memdb.Txn) {
	t.Helper()
	schema := Schema()
	var empty []string
	for _, table := range Tables {
		var names []string
		for name := range schema.Tables[table].Indexes {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			w, g := indexRows(t, want, table, name), indexRows(t, got, table, name)
			if len(w) != len(g) {
				t.Errorf("%s.%s: %d rows restored, %d snapshotted", table, name, len(g), len(w))
				continue
			}
			if len(w) == 0 {
				empty = append(empty, table+"."+name)
			}
			for i := range w {
				if !proto.Equal(w[i], g[i]) {
					t.Errorf("%s.%s row %d: restored %v, snapshotted %v", table, name, i, g[i], w[i])
					break
				}
			}
		}
	}
	if len(empty) > 0 {
		t.Errorf("indexes without rows (the fixture should cover them): %v", empty)
	}
}

// indexRows lists the records of index name of table, in index order.
func indexRows(t *testing.T, txn *memdb.Txn, table, name string) []proto.Message {
	t.Helper()
	it, err := txn.Get(table, name+"_prefix")
	if err != nil {
		t.Fatalf("%s.%s: %v", table, name, err)
	}
	var rows []proto.Message
	for raw := it.Next(); raw != nil; raw = it.Next() {
		rows = append(rows, raw.(proto.Message))
	}
	return rows
}

// TestSnapshotFormatV1 restores testdata/snapshot-v1.bin, a snapshot in
// the first format (BMSNAP01) of the golden commands, to the rows of
// testdata/snapshot-v1.golden: a snapshot written by an earlier release
// must keep restoring. -update writes the snapshot anew only while the
// current format is still BMSNAP01.
func TestSnapshotFormatV1(t *testing.T) {
	bin := filepath.Join("testdata", "snapshot-v1.bin")
	if testkit.Update() && snapshotMagic == "BMSNAP01" {
		db := newDB(t)
		for _, c := range goldenCommands() {
			txn := writeTxn(db)
			if _, err := Apply(txn, c); err != nil {
				txn.Abort()
				continue
			}
			Recount(txn)
			txn.Commit()
		}
		var snap bytes.Buffer
		if err := WriteSnapshot(&snap, db.Txn(false)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, snap.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	db, err := ReadSnapshot(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "v1", db.Txn(false))
	testkit.Golden(t, filepath.Join("testdata", "snapshot-v1.golden"), []byte(dump(t, db)))
}

// everyIndexDB is a database with rows in every index of every table:
// history's finished builds, the golden commands' running ones, archived
// builds, a claimed request, and records with every scalar field set in
// the tables no command of these writes.
func everyIndexDB(t *testing.T) *memdb.MemDB {
	t.Helper()
	f := &fsm{}
	f.db.Store(newDB(t))
	history(t, f, 3000, 500)
	db := f.db.Load()
	apply := func(c *messages.Command) *messages.CommandResult {
		txn := writeTxn(db)
		res, err := Apply(txn, c)
		if err != nil {
			txn.Abort()
			return nil
		}
		Recount(txn)
		txn.Commit()
		return res
	}
	for _, c := range goldenCommands() {
		apply(c)
	}
	// Finished builds' steps and logs in the archive.
	apply(cmd(&messages.Archive{Buildids: []uint64{1, 2, 3}}))
	// Finished buildsets in the buildset archive.
	if res := apply(cmd(&messages.ArchiveBuildsets{Buildsetids: ToArchiveBuildsets(db.Txn(false), math.MaxInt64)})); res.GetId() == 0 {
		t.Fatal("no buildset archived")
	}
	// Old changes in the change archive.
	apply(cmd(&messages.ArchiveChanges{Changeids: []uint64{1, 2, 3}}))
	// A request claimed and not finished (claimed_by).
	apply(claim(1, 4001, apply(buildset(4000, 1)).GetIds()[0]))
	fillEmptyTables(t, db)
	return db
}
