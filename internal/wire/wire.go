// Package wire is what the master's worker protocols share: the calls the
// master makes on a logged-in worker (Conn), the calls a worker makes back
// about a command it runs (Sink and its file-transfer extensions), and how a
// protocol server asks who may log in (Authenticator).
//
// Two protocols implement it, each in its own package: msgpack_experimental_v7
// over WebSocket (internal/wire/msgpack) and Twisted Perspective Broker
// (internal/wire/pb). Both are spoken by Buildbot's stock buildbot-worker;
// buildworker speaks msgpack. Protocol packages are pure: they know nothing
// of actors, and values crossing this interface are plain Go values.
package wire

import (
	"context"
	"errors"
	"net"
	"time"
)

// Authenticator tells a protocol server whether a worker may log in.
type Authenticator interface {
	// Password returns the password configured for worker name, seen from
	// remote (an address, for logs and rate limits). ok is false when no
	// such worker is configured; err is set when the login must be refused
	// for another reason (ErrRateLimited, or RateLimited with the wait).
	// The server compares passwords itself, in constant time where the
	// protocol allows it.
	Password(ctx context.Context, name, remote string) (password string, ok bool, err error)
}

// LoggedIn tells the listener that accepted c (or the connection c wraps,
// a TLS connection's) that c's peer has logged in: a listener that bounds
// the connections not logged in (httpserve.Listener.LimitStrangers) gives
// back the place c took. It does nothing for a connection that took none.
// A protocol server calls it once a worker's password has been checked.
func LoggedIn(c net.Conn) {
	for {
		switch x := c.(type) {
		case interface{ LoggedIn() }:
			x.LoggedIn()
			return
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return
		}
	}
}

// ErrRateLimited refuses a login from an address that failed too often.
var ErrRateLimited = errors.New("too many failed logins from this address")

// RateLimited is ErrRateLimited with how long until the address may try
// again (errors.Is(err, ErrRateLimited) holds); RetryAfter reads it back.
func RateLimited(wait time.Duration) error { return rateLimited{wait} }

// RetryAfter returns how long the refusal err asks to wait before the next
// login, when it says.
func RetryAfter(err error) (time.Duration, bool) {
	var r rateLimited
	if errors.As(err, &r) {
		return r.wait, true
	}
	return 0, false
}

type rateLimited struct{ wait time.Duration }

func (r rateLimited) Error() string        { return ErrRateLimited.Error() }
func (r rateLimited) Is(target error) bool { return target == ErrRateLimited }

// LoginObserver is implemented by an Authenticator that wants to know how
// each login attempt ended, for instance to rate-limit failures per
// address. A protocol server calls LoginResult once per attempt that got as
// far as a name (name is "" when the credentials were malformed).
type LoginObserver interface {
	LoginResult(name, remote string, ok bool)
}

// ErrConnectionLost is wrapped by the errors of calls, and of commands'
// Complete, that ended because the connection to the worker went away.
var ErrConnectionLost = errors.New("connection lost")

// Conn is one logged-in worker connection, as the master uses it. Calls
// may be made from several goroutines; each waits for the worker's answer
// or ctx.
type Conn interface {
	// Name is the worker name the connection logged in with.
	Name() string
	// Remote is the peer's address.
	Remote() string
	// Print asks the worker to log msg; it doubles as a ping.
	Print(ctx context.Context, msg string) error
	// Keepalive is the protocol's keepalive.
	Keepalive(ctx context.Context) error
	// Info asks the worker for its info: Buildbot's get_worker_info
	// (msgpack) or getWorkerInfo/getCommands/getVersion (PB), as one map
	// (admin, host, access_uri, version, numcpus, system, basedir, environ,
	// worker_commands, os_* …).
	Info(ctx context.Context) (map[string]any, error)
	// SetBuilderList tells the worker which builders (name → builddir) it
	// serves. PB workers need it before a command can start on a builder.
	SetBuilderList(ctx context.Context, builders map[string]string) error
	// StartCommand starts cmd and returns once the worker has accepted it.
	// What the worker then sends about it goes to cmd.Sink, which may be
	// called before StartCommand returns. Complete is called exactly once
	// and is the Sink's last call: when the worker ends the command, when
	// StartCommand fails (with its error), or when the connection is lost
	// (with an error wrapping ErrConnectionLost).
	StartCommand(ctx context.Context, cmd Command) error
	// Start is StartCommand without waiting for the worker's answer, so
	// that no goroutine waits for it: it returns once the command is sent,
	// or has failed to be. Sending may wait for the network (another
	// write, a worker that stops reading: up to the write timeout), so an
	// actor calls it off its mailbox. Every outcome reaches cmd.Sink: a
	// refusal, or a failure to send, completes it with the error
	// StartCommand would return.
	Start(cmd Command)
	// Interrupt asks the worker to interrupt command id, without waiting
	// for its answer: it returns once the request is written, or with why
	// it was not. Like Start, it may wait for the network, and what one
	// goroutine starts and interrupts reaches the worker in the order of
	// its calls. answered, when not nil, later gets the worker's answer
	// (nil: done) or the connection's loss, once, on the connection's
	// reader (it must not wait); never when Interrupt returns an error.
	Interrupt(builder, id, why string, answered func(error)) error
	// Shutdown asks the worker to shut itself down.
	Shutdown(ctx context.Context) error
	// Close drops the connection; reason becomes its Err (and what the
	// worker is told, where the protocol can say it). The caller logs why.
	Close(reason string)
	// Done is closed when the connection is gone; Err then says why.
	Done() <-chan struct{}
	Err() error
}

// Command is one remote command (Buildbot's RemoteCommand).
type Command struct {
	ID      string         // unique on its connection
	Builder string         // the builder the command runs for
	Name    string         // shell, mkdir, rmdir, cpdir, stat, glob, listdir, rmfile, upload_file, upload_directory, download_file (or RemoteCommand's uploadFile, uploadDirectory, downloadFile)
	Args    map[string]any // the command's arguments, as Buildbot's RemoteCommand holds them (paths relative to the builder's directory: dir, workdir, workersrc, …); a protocol turns them into its wire form
	Sink    Sink
}

// Update is one key of a command's update. Output keys (stdout, stderr,
// header, and log with its Log name) carry their text in Text; rc and other
// integers in Int; elapsed in Float; anything else (files, stat, …) is
// Value as decoded.
type Update struct {
	Key   string
	Text  string
	Log   string
	Int   int64
	Float float64
	Value any
}

// Sink takes what a worker sends about one command. Its methods are
// called one at a time, usually on the goroutine that reads the
// connection: they must not wait on that connection (no Conn call from
// inside them).
type Sink interface {
	// Update takes updates in the order the worker sent them.
	Update(updates []Update)
	// Complete ends the command: err is nil on success, the worker's
	// failure, or the loss of the connection.
	Complete(err error)
}

// Finisher is a Sink that takes a command's last updates together with
// its end, so that it can pass both on at once (one message to the build
// instead of two). A protocol that holds updates of a command when the
// command ends hands them over with Finish (see the package function);
// Finish then replaces the Update and the Complete, and is the Sink's last
// call.
type Finisher interface {
	Sink
	Finish(updates []Update, err error)
}

// Finish ends s's command with its last updates: one Finish call when s
// is a Finisher, else Update (when there are updates) then Complete.
func Finish(s Sink, updates []Update, err error) {
	if f, ok := s.(Finisher); ok {
		f.Finish(updates, err)
		return
	}
	if len(updates) > 0 {
		s.Update(updates)
	}
	s.Complete(err)
}

// Uploader is the Sink of upload_file and upload_directory: the worker
// writes the file (or a tar stream) to the master in blocks.
type Uploader interface {
	Sink
	Write(p []byte) error
	// Utime sets the uploaded file's times (upload_file with keepstamp).
	Utime(accessTime, modifiedTime float64) error
	// Unpack extracts an uploaded tar stream (upload_directory).
	Unpack() error
	// CloseUpload ends the written stream.
	CloseUpload() error
}

// Downloader is the Sink of download_file: the worker reads the master's
// file in blocks; an empty result means the end.
type Downloader interface {
	Sink
	Read(n int) ([]byte, error)
	CloseDownload() error
}
