// Package testkit holds the helpers every test of this repository shares,
// so that each exists once:
//
//   - waiting with a deadline: [Eventually] and [Retry] poll a condition,
//     [Recv] waits on a channel; all fail the test after [DefaultTimeout]
//     (or the deadline given with [Within]) instead of hanging or sleeping
//     and hoping;
//   - golden files: [Golden] compares output with a file under testdata/
//     and rewrites it when the test binary runs with -update, the one such
//     flag of the repository ([Update] reports it);
//   - addresses: [Listen] hands a test a listener already bound on
//     127.0.0.1, [RefusingAddr] an address where connections are refused
//     and nothing else can listen meanwhile, [ReservedAddr] one that only
//     a server restarted on it can listen on (servers started in a child
//     process listen on port 0 and print the address they got);
//   - a full disk: [Tmpfs] mounts a small tmpfs (root only, else skips);
//   - logs: [NewLogs] gives a logger whose lines a test reads back, by
//     level ([Logs]);
//   - a bare WebSocket client: [DialWebSocket] gives a [WebSocket] that
//     returns the frames each read brings (what arrived together), cheap
//     enough for a benchmark's thousand clients;
//   - for benchmarks: [ShortOr] for a size that shrinks under -short,
//     [CPUTime] and [WriteCalls] of the process, [LoadAvg] of the
//     machine, [StartPiped] to run a helper process.
//
// No helper here measures speed: a test asserts what happens, never how
// fast (speed is measured with go test -bench).
//
// testkit is for _test.go files and test-only packages; product code must
// not import it (it registers the -update flag).
package testkit
