// Package state owns the master's database: one hashicorp/go-memdb database
// whose tables follow Buildbot's data model, changed only by Apply, made
// durable with hashicorp/raft.
//
// Records are the protobuf messages of proto/buildmaster/v1/db.proto, one
// table each (Schema, Tables). A record in memdb is never mutated: Apply
// clones it, changes the clone and inserts that.
//
// Every change of state is a messages.Command applied by Apply, which is
// deterministic: ids are one more than the largest id in the table, times
// come in the command. Bad commands (see the Max* limits) return an error
// wrapping ErrBadCommand that says what and where, and write nothing.
//
// Store runs Apply either directly (OpenEphemeral) or as the FSM of a
// single-voter raft (Open): the raft log and stable store are dir/wal
// (hashicorp/raft-wal: append-only segment files, one fsync per batch; a
// dir/raft.db left by the earlier bbolt log is moved into it once), the
// directory is locked against a second process (dir/LOCK), snapshots live
// under dir/snapshots and are taken by raft (SnapshotThreshold entries,
// checked every SnapshotInterval) and on Close; a snapshot streams every
// table as length-prefixed protobuf rows with a row-count trailer. Submit
// returns a Future that resolves once the command is committed to disk and
// applied; SubmitAsync never blocks, and one goroutine waits for its
// commands in order and calls back, so an actor's mailbox never blocks.
// Read returns an immutable read transaction that never waits for writers.
//
// Recovery: Open restores the latest snapshot and replays the log after it.
// A torn final append to the log fails its checksum and is dropped by the
// WAL (it was never acknowledged). A damaged latest snapshot (CRC mismatch,
// truncated, unreadable meta.json, rows that do not decode) makes Open fail
// with an error naming the file, instead of raft's silent fallback to an
// older snapshot whose following log entries may be compacted away.
//
// A failed write (a full disk) fails the commands it carried, and Submit
// refuses commands (ErrDegraded) until a write to the log succeeds again,
// which the Store finds out by itself (guardedLog); Health says what is
// wrong meanwhile. Nothing acknowledged is lost, and nothing refused
// appears later.
package state
