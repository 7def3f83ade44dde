// Package msgpack is Buildbot's msgpack_experimental_v7 worker protocol,
// both sides, as plain Go (no actors): the master's Server, whose
// connections are wire.Conn, and the worker's Dial, which serves a
// Handler.
//
// The transport is a WebSocket the worker dials, with Authorization:
// Basic checked at the upgrade. Each binary message holds one msgpack map
// with str keys; every request carries seq_number (each side counts its
// own from 0) and op, and gets exactly one {op: "response", seq_number,
// result[, is_exception]}. Unknown ops are answered "Command <op> does not
// exist.".
//
// Master → worker ops: print, keepalive, get_worker_info,
// set_worker_settings, start_command, interrupt_command, shutdown. Worker
// → master ops, about a command the master started: update, complete,
// update_upload_file_write/close/utime,
// update_upload_directory_write/unpack, update_read_file/close; an id the
// master does not know is answered `unknown "command_id"`.
//
// Bounds: a frame over the limit (DefaultMaxFrame, raised to a transfer's
// blocksize while it runs) closes the connection, as does a frame that is
// not one well-formed msgpack map (checked before decoding, so a frame
// cannot make the decoder allocate much more than its size); an upload
// cannot exceed its maxsize; a worker that has not logged in within the
// login timeout is closed. Each connection has one reading goroutine;
// requests are served on it in order, and nothing is queued without bound.
//
// It behaves as Buildbot 3.7's master and worker do (checked against
// Debian's buildbot-worker 3.7 in the tests), without the master's two
// bugs: update_read_file answers the bytes, upload_file_utime passes the
// times.
package msgpack
