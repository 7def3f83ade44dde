// Package workercmd owns what a build worker does with the commands its
// master sends, independent of any transport: run a shell command
// (RunShell), change and inspect the file system (Mkdir, Rmdir, Rmfile,
// Stat, Glob, Listdir) and move one file to or from the master in bounded
// chunks (UploadFile, Download). It follows the behaviour of Buildbot's
// worker (buildbot_worker: runprocess.py and the commands registry); the
// transport (cmd/buildworker) maps the master's argument maps onto these
// types and the results back onto update keys.
//
// Shell commands
//
//   - A command is Shell.Argv (executed directly, argv[0] looked up in the
//     command's own PATH, relative to Workdir) or Shell.Script (run with
//     /bin/sh -c). Stdin is /dev/null.
//   - The command runs in its own process group (Setpgid). Every kill,
//     whether for the no-output Timeout, for MaxTime or because the
//     caller's context ended (the master's interrupt), signals the whole
//     group: SIGTERM first when SigtermGrace > 0, SIGKILL after the grace
//     or at once. The group leader is not reaped before RunShell is done
//     with the group, so its id can never name another group when signalled.
//   - The command is finished when its leader has exited and both output
//     pipes are closed (a background process that keeps stdout open keeps
//     the command running, as in Buildbot; the timeouts still apply).
//   - Output reaches the caller while the command runs, through one Output
//     function called only on the goroutine that called RunShell, in
//     chunks of at most MaxChunk bytes, cut at line ends where possible,
//     at most about two FlushIntervals late. Each stream's bytes arrive
//     complete and in order; the relative order of stdout and stderr is
//     only as good as the flush interval. Header lines (what runs, where,
//     why it was killed, how it ended) arrive on the Header stream, with
//     Buildbot's wording.
//   - Memory is bounded: when Output blocks, the reader goroutines block,
//     the pipes fill and the command blocks on write.
//
// File operations never follow a symbolic link out of the tree they work
// on when removing (Rmdir removes the link, not its target). Download
// writes into a temporary file in the destination directory and renames it
// into place only on Close, so a reader never sees a partial file, and a
// failed or aborted download leaves nothing behind.
//
// The package is Linux-only in practice (process groups, waitid, /bin/sh).
package workercmd
