package state

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// BenchmarkHeapPerTable reports what each table of history's state holds
// in heap: its records alone (cloned, outside memdb), its id index, and
// each of its other indexes (each measured as a database of that table
// with the id index and this one, less the one with the id index alone;
// the rows inserted in one transaction, as a snapshot restore does).
// BENCH_HEAP_CHANGES and BENCH_HEAP_BUILDS (default 100,000 each) set the
// history's size; the figures are logged as a table, in MiB and bytes per
// row (run it with -v, or go test cuts the table after ten lines).
func BenchmarkHeapPerTable(b *testing.B) {
	changes, builds := envCount(b, "BENCH_HEAP_CHANGES", testkit.ShortOr(100_000, 500)), envCount(b, "BENCH_HEAP_BUILDS", testkit.ShortOr(100_000, 500))
	f := &fsm{}
	f.db.Store(newDB(b))
	history(b, f, changes, builds)
	for range b.N {
		txn := f.db.Load().Txn(false)
		schema := Schema()
		var report strings.Builder
		fmt.Fprintf(&report, "%d changes, %d builds:\n%-14s %9s %9s %7s  %s\n", changes, builds, "table", "rows", "records", "B/row", "indexes (MiB, B/row)")
		var total, totalRecords uint64
		for _, table := range Tables {
			var rows []any
			for raw := range Scan(txn, table, false) {
				rows = append(rows, raw)
			}
			if len(rows) == 0 {
				continue
			}
			records := heapOf(func() any {
				clones := make([]proto.Message, len(rows))
				for i, r := range rows {
					clones[i] = proto.Clone(r.(proto.Message))
				}
				return clones
			})
			idOnly := heapOf(func() any { return tableDB(b, schema.Tables[table], rows, IndexID) })
			fmt.Fprintf(&report, "%-14s %9d %9s %7d  id %s", table, len(rows), mib(records), records/uint64(len(rows)), perRow(idOnly, len(rows)))
			total, totalRecords = total+records+idOnly, totalRecords+records
			var names []string
			for name := range schema.Tables[table].Indexes {
				if name != IndexID {
					names = append(names, name)
				}
			}
			slices.Sort(names)
			for _, name := range names {
				with := heapOf(func() any { return tableDB(b, schema.Tables[table], rows, IndexID, name) })
				extra := with - min(with, idOnly)
				total += extra
				fmt.Fprintf(&report, ", %s %s", name, perRow(extra, len(rows)))
			}
			report.WriteString("\n")
		}
		fmt.Fprintf(&report, "total %s MiB, of which records %s MiB and indexes %s MiB", mib(total), mib(totalRecords), mib(total-totalRecords))
		b.Log(report.String())
		b.ReportMetric(float64(total)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(total-totalRecords)/(1<<20), "index-MiB")
	}
}

// tableDB returns a database of the one table ts, with only the indexes
// named, holding rows (inserted in one transaction).
func tableDB(b *testing.B, ts *memdb.TableSchema, rows []any, indexes ...string) *memdb.MemDB {
	b.Helper()
	only := &memdb.TableSchema{Name: ts.Name, Indexes: map[string]*memdb.IndexSchema{}}
	for _, name := range indexes {
		only.Indexes[name] = ts.Indexes[name]
	}
	db, err := memdb.NewMemDB(&memdb.DBSchema{Tables: map[string]*memdb.TableSchema{ts.Name: only}})
	if err != nil {
		b.Fatal(err)
	}
	txn := db.Txn(true)
	for _, r := range rows {
		if err := txn.Insert(ts.Name, r); err != nil {
			b.Fatal(err)
		}
	}
	txn.Commit()
	return db
}

// heapOf returns the heap that what fn returns holds, measured as the
// live heap after a collection with it, less before it.
func heapOf(fn func() any) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := fn()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
}

func mib(n uint64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) }

func perRow(n uint64, rows int) string { return fmt.Sprintf("%s (%d)", mib(n), n/uint64(rows)) }

// envCount is the positive integer in environment variable name, or def.
func envCount(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}
