// Package pb is the master side of Twisted Perspective Broker, the
// default protocol of Buildbot's worker (every existing buildbot.tac), so
// that a stock buildbot-worker connects to this master unchanged. It is
// pure: it knows nothing of actors.
//
// It owns the Banana framing (banana.go), the Jelly serialisation of the
// values PB carries (jelly.go, failure.go), one connection's brokering of
// calls, answers and remote references (broker.go), the challenge–response
// login (login.go), and the wire.Conn a logged-in worker is used through
// (conn.go, command.go). Server (server.go) serves a net.Listener its
// caller owns.
//
// # A session, as Buildbot 3.7 and buildbot-worker 3.7 run it
//
// Captured on this machine (testdata/session.pb, decoded in
// testdata/session.sexp; how in testdata/README.md). "M" is the master,
// "W" the worker; a call is ["message", request id, object, method,
// answer required, args tuple, kwargs dictionary], answered by
// ["answer", request id, value] or ["error", request id, failure].
//
//  1. M offers the dialects ["pb", "none"]; W picks "pb" (the pb
//     vocabulary is on from now). Both send ["version", 6].
//  2. W calls login("w1") on the object "root". M answers (challenge,
//     challenger): 16 random bytes and a reference to a new object.
//  3. W calls respond(md5(md5(password) + challenge), mind) on the
//     challenger, mind being a reference to its bot, then decrefs the
//     challenger. A wrong password is answered with a CopyableFailure
//     whose parents include twisted.cred.error.UnauthorizedLogin (the
//     worker retries later; any other failure makes it stop), after M
//     decrefs the mind.
//  4. Before answering respond, M attaches the worker, calling on the
//     mind: print(message="attached"), getWorkerInfo() (a dictionary:
//     info/ files, os_*, environ, system, basedir, numcpus, version,
//     worker_commands, delete_leftover_dirs), setBuilderList([(name,
//     builddir)…]) (answered {name: reference to the worker's builder}),
//     and print(message="attached") once per builder. Then M answers
//     respond with a reference to the worker's perspective.
//  5. W calls keepalive() on the perspective every --keepalive seconds
//     (default 600); M answers None. M's own keepalive is
//     print(message="keepalive") every hour.
//  6. Per build: print(message="ping"), startBuild() on the builder
//     reference (a no-op on the worker, not part of wire.Conn), then per
//     step startCommand(commandRef, id, name, args) on the builder
//     reference, commandRef a new master object. The worker may call
//     update and complete on commandRef before it answers startCommand.
//     update([[{key: value}, 0]]) carries one key per call (header,
//     stdout, stderr, log, rc, elapsed, files, stat); M answers 0.
//     complete(None | failure) ends the command; M answers None.
//  7. Transfers pass one more master object in args: uploadFile and
//     uploadDirectory a writer (write(bytes), then close() and
//     utime((atime, mtime)) for a file, unpack() for a directory's tar),
//     downloadFile a reader (read(blocksize) until it answers b"", then
//     close()).
//  8. interruptCommand(id, why) on the builder reference stops a command:
//     the worker kills it and completes it (rc -1).
//  9. shutdown() on the mind stops the worker: it answers, then closes.
//  10. W decrefs the master's command, writer and reader objects when
//     it drops them; M forgets an object at its last decref.
//
// # Bounds
//
// A connection not logged in within Config.LoginTimeout (10 s) is closed.
// Before login an expression may be 64 KiB, at most 32 are read after the
// dialect, and login may be called 3 times; after it an expression may be
// Config.MaxMessage (1 MiB). Banana strings and lists are bounded by
// Twisted's 640 KiB, a number prefix by 64 digits, nesting by 64 lists, a
// connection's objects by 1024 (Twisted's MAX_BROKER_REFS), jelly
// dereferences by 64 an expression. Going over a bound closes the
// connection with the bound as the logged reason; nothing is allocated
// beyond the bytes checked against it. A connection reads into 512 bytes
// until it logs in, 32 KiB after. Config.MaxConns (1024) bounds the
// connections; the master's listener also bounds those not logged in
// (LimitStrangers in internal/httpserve, released by wire.LoggedIn).
package pb
