// Package logchunk owns the contents of build logs on disk: one append-only
// file per log, a sequence of self-describing, checksummed, zstd-compressed
// chunks of whole lines; or, for a small log, the same bytes as one record
// of a segment file shared with other small logs (see "Small logs"). It is pure storage (no actors, no state): the db
// service owns a Store, keeps each log's metadata (id, step, name, type,
// num_lines, complete, lost line ranges) in state, and hands the lines here.
//
// # Use
//
//	st, err := logchunk.Open(dir, logchunk.Options{})
//	w, err := st.Create(logid, logchunk.Stdio)
//	w.Append(logchunk.Stdout, []byte("compiling\n")) // or w.AppendChunk([]byte("ocompiling\n"))
//	w.Sync()  // before a step's result is acknowledged
//	w.Close() // flush, fsync, close; w.Lost() are the lines a full disk dropped
//	res, err := st.Read(ctx, logid, offset, limit, func(l logchunk.Line) error { … })
//	r, err := st.Raw(ctx, logid) // io.Reader of the text, for /raw
//	rep, err := st.Recover(ctx, logid) // at start, for a log that was being written
//	ids, err := st.List(ctx, after, n); n, err := st.Remove(ctx, ids...) // horizons
//
// Lines are numbered from 0. A Writer numbers the lines it is given in
// order; lines it could not write (disk full) keep their numbers and are
// reported by Writer.Lost, so later lines keep theirs. A read of a log
// whose Writer (of the same Store) is appending sees every line added
// before it began: the chunks written whole (never one being written), then
// a copy of the lines in the Writer's buffer. Memory is bounded per Writer
// (one chunk buffer; the compressed copy is pooled) and per reader (one stored and
// one decoded chunk, and at most one chunk of a Writer's buffer); no read
// loads a file. A sparse index per log (in memory, for the logs read or
// written lately) lets a read from line N skip to a chunk near it.
//
// Damage (a torn write after kill -9, a flipped bit) is detected by
// checksums. A chunk whose payload is damaged but whose header is intact is
// skipped and its lines reported lost; a damaged or torn header ends what can
// be read: everything before it is served, the rest reported lost. Nothing
// here panics on any file content (the decoders are fuzzed).
//
// # Files
//
// A log's file is DIR/H/M/ID.log, where ID is the log id in decimal, H is
// ID>>24 and M is (ID>>12)&0xfff, both in lower-case hex (M zero-padded to 3
// digits): at most 4096 files per directory, consecutive ids side by side.
//
// # Format (version 1)
//
// All integers are little-endian. Checksums are CRC-32C (Castagnoli).
//
// The file starts with a 20-byte file header:
//
//	offset size  field
//	0      4     magic "BMLG"
//	4      1     version: 1
//	5      1     log type: 's' stdio, 't' text, 'h' html
//	6      2     reserved: 0
//	8      8     log id (uint64)
//	16     4     CRC-32C of bytes 0…15
//
// Chunks follow, back to back, each a 36-byte header and its payload:
//
//	offset size  field
//	0      4     magic "BMCK"
//	4      1     codec: 0 stored (payload is the lines), 1 zstd (one RFC 8878
//	             frame), 2 s2 (one block, the format of klauspost/compress/s2)
//	5      3     reserved: 0
//	8      8     first line: number of the chunk's first line (uint64, < 2^62)
//	16     4     lines: how many lines the chunk holds (uint32, ≥ 1)
//	20     4     raw length: bytes of the lines once decoded (1 … 1 MiB)
//	24     4     stored length: bytes of payload that follow the header
//	             (= raw length for codec 0, ≤ raw length for codecs 1 and 2)
//	28     4     CRC-32C of the payload (as stored)
//	32     4     CRC-32C of header bytes 0…31
//
// The decoded payload is the chunk's lines, each ended by '\n' (so it ends
// with '\n' and holds exactly "lines" newlines). In a stdio log each line
// starts with its stream: 'o' stdout, 'e' stderr, 'h' header, as in the
// content of Buildbot's logchunks; text and html logs have no prefix. The
// first line of a chunk is at least the line after the previous chunk; a
// larger first line is a gap: those lines were lost when written (disk full).
//
// A reader walks the headers from byte 20 (each header's stored length gives
// the next one's offset) and decodes only the chunks it needs. A file that
// ends inside a header or payload, a header whose checksum, magic, reserved
// bytes or lengths are wrong, or whose first line goes backwards, is damaged
// from that offset on (from 0 if the file header is wrong or names another
// log). A payload whose checksum or decoding fails, or whose
// line count, final newline or stream prefixes do not match its header, is a
// damaged chunk: its lines are lost, the chunks after it are still read.
//
// # Small logs
//
// A log closed before it wrote a chunk (its lines fit in one chunk of at
// most Options.SmallMax bytes: most steps' logs) has no file of its own.
// Close writes the bytes its file would hold (file header and one chunk,
// compressed with s2: a step's short log of 2 KB costs about 1.4 µs of
// CPU where zstd takes 11, for a payload 1.9 times as big,
// BenchmarkCodecs/*/short; records written with zstd by earlier releases
// read as before) as a record at the end of the
// active segment, DIR/small/SEQ.seg (SEQ in
// decimal, 10 digits), and returns once an fsync of the segment made it
// durable. Closes that come while an fsync runs wait and share the next
// one (group commit): a master finishing many steps at once pays one
// fsync, and no file creation, directory fsync or close per log. A log
// grows into a file as before when its Writer writes a chunk: the buffer
// filled, or Flush or Sync was called.
//
// CloseDeferred pays no fsync at all: it writes the record and returns it,
// and the caller keeps it durably elsewhere (the db service: in the raft
// command that records the log, fsynced anyway). After a crash that lost
// the segment's unsynced tail, PutRecord writes the record back (it does
// nothing when the store has the log); SyncRecords makes every record
// written so far durable (the db service: before a snapshot lets raft
// drop the commands that carried them).
//
// An index in memory (about 40 bytes per small log) says where each
// record is; Open builds it by reading the segments, which are then
// sealed: new records go to a new segment, and the active one is sealed
// at Options.SegmentSize. Remove drops a log from the index and appends a
// removal record (not synced: a removal lost to a crash leaves a record
// that List shows again, for the janitor's sweep). Expiry is per segment,
// with no compaction: a segment file is deleted once none of its records
// is live and no removal in it concerns a record in a segment still kept
// (else a restart would find that record again). Logs expire in about the
// order they were written, so segments go whole; a log kept for long keeps
// its segment (at most SegmentSize, 8 MiB by default) on disk.
//
// A segment starts with a 20-byte header:
//
//	offset size  field
//	0      4     magic "BMSG"
//	4      1     version: 1
//	5      3     reserved: 0
//	8      8     segment number SEQ (uint64)
//	16     4     CRC-32C of bytes 0…15
//
// Frames follow, back to back, each a 20-byte header and its body:
//
//	offset size  field
//	0      4     magic "BMSR"
//	4      1     kind: 'l' a log (body: the log's file bytes, file header
//	             and at most one chunk), 'x' removed logs (body: their ids,
//	             uint64 each)
//	5      3     reserved: 0
//	8      4     body length (at most a file header, a chunk header and
//	             MaxChunkRaw)
//	12     4     CRC-32C of the body
//	16     4     CRC-32C of bytes 0…15
//
// Open checks every frame. A frame whose body checksum fails (or whose
// log's file header is damaged) is skipped; after a damaged frame header
// the next sound frame is looked for; a frame the file ends inside is a
// torn tail (a crash before its fsync returned, so no close acknowledged
// it, or one CloseDeferred made, whose record its caller kept). Store.Damage reports what was skipped; the logs lost there have no
// record, and their lines, counted by the state, are marked lost at start
// as those of a log file cut short are. A record's chunk is checked again
// when read, as a file's is.
package logchunk
