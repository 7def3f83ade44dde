// Package worker is the build worker: the process that logs in to a
// buildmaster and runs the commands the master sends (Buildbot's
// buildbot-worker). It owns the worker side of the worker protocol
// (proto/buildmaster/v1/worker.proto, whose header is the contract) and
// the buildworker command line (cli.go; cmd/buildworker is a thin main).
// What a command does on the machine is internal/workercmd's; this
// package maps the protocol's messages onto it.
//
// Run starts an actor system whose remote endpoint (internal/remoting)
// lets in only ToWorker, for the actor `worker`, and replies to the
// worker's own request futures. Then, until its context ends or the
// master shuts it down:
//
//   - Login: a WorkerLogin request to MASTER/master/pbmanager, preceded by
//     a plain TCP connect so that an absent master is found at once. A
//     refused login (the master's error is logged at error level, once
//     per distinct error), no answer or no master are retried with
//     Options.Backoff (1 s doubling to 60 s, with jitter). The password
//     is never logged, nor any session.
//   - Session: FromWorker.keepalive every keepalive_interval the master
//     gave. A ToWorker is obeyed only if it carries the session (constant
//     time compare); others are dropped and logged (rate limited). What
//     the master sends right after its answer is kept until the session
//     is known.
//   - Commands run one goroutine each; that goroutine alone sends the
//     command's updates, so the master gets its output in order and
//     exactly one complete, last (a refused command, for a duplicate id of
//     a running command or during shutdown, gets just a complete with an
//     error). Relative paths are relative to Basedir; a shell command's
//     missing workdir is created, as Buildbot does. File operations
//     complete with rc 0, or rc 1 and the error; a command that cannot run
//     completes with rc -1 and the error.
//   - A lost master (protoactor's EndpointTerminatedEvent for its address,
//     or a message to it dead-lettered): the running commands are killed,
//     nothing more is sent for that session, and the worker logs in again
//     with back-off; so a restarted master gets its workers back. A
//     ToWorker.detached (the master let the session go while the
//     connection stayed up) is taken the same way.
//   - ToWorker.shutdown: graceful, the worker takes no new command, waits
//     for the running ones (keepalives go on), says FromWorker.detach and
//     Run returns nil; not graceful, it kills them first. The end of Run's
//     context does the same as a non-graceful shutdown.
//
// Output is gathered for up to 100 ms (outputHold) before it is sent, so a
// short command's whole output comes with its complete, in one message.
//
// Limits that come from the transport: every FromWorker stays under 32 KiB
// of data (see maxMessageData), and the worker does not slow a command
// down when the master reads its output slowly (the protocol has no flow
// control: output waits in protoactor's unbounded queue). A download's
// chunks may wait in memory up to 64 MiB for the disk.
package worker
