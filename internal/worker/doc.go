// Package worker is the build worker: the process that dials a
// buildmaster, logs in, and runs the commands the master sends (Buildbot's
// buildbot-worker). It speaks Buildbot's msgpack_experimental_v7 over a
// WebSocket it dials (internal/wire/msgpack: ws://, or wss:// with a CA,
// and a client certificate if the master asks for one), so it works with
// this master's listen.workers and with a Buildbot master's msgpack port
// alike. It opens no port: everything goes over the connection it dialed.
// What a command does on the machine is internal/workercmd's; this package
// maps Buildbot's commands and their arguments onto it (command.go) and
// owns the buildworker command line (cli.go; cmd/buildworker is a thin
// main).
//
// Run, until its context ends or the master shuts the worker down:
//
//   - Dials the master with the name and password (Authorization: Basic,
//     the password never logged), and again, with Options.Backoff (1 s
//     doubling to 60 s, jittered), whenever the master is unreachable,
//     refuses the login (a refusal is logged at error level once per
//     distinct error) or the connection ends; so a restarted master gets
//     its workers back by itself.
//   - Answers get_worker_info as Buildbot's worker does (worker.go): the
//     files of BASEDIR/info (admin, host, access_uri), the os_* fields of
//     /etc/os-release, environ, system, basedir, numcpus, version and the
//     commands it runs.
//   - Runs each command on a goroutine of its own, which alone reports on
//     it: its output in updates, gathered for up to Options.OutputHold, then
//     rc and elapsed, then complete; so the master gets them in order, and
//     a short command's whole output with its rc. interrupt_command kills
//     the command's process group; a lost connection kills every command.
//   - shutdown (the master's stop or kill): the worker stops taking
//     commands, its running ones are killed, and Run returns nil.
package worker
