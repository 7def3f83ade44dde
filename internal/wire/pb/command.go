package pb

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// StartCommand calls startCommand(commandRef, id, name, args) on the
// builder's reference. commandRef is a local object whose update and
// complete calls go to cmd.Sink; for transfers args also carry a writer
// (uploads, to a wire.Uploader Sink) or a reader (downloads, from a
// wire.Downloader Sink).
//
// cmd may name the command and its arguments as the msgpack protocol
// does (upload_file, absolute paths); they are rewritten to what a PB
// worker expects (uploadFile, workdir + workersrc). Commands already in
// PB form (uploadFile, mkdir with dir, …) are sent as they are.
//
// cmd.Sink.Complete is called exactly once for every StartCommand call,
// also when StartCommand itself fails (with the same error). When ctx
// ends before the worker has answered, the Sink is completed with ctx's
// error, although the worker may go on running the command.
func (c *conn) StartCommand(ctx context.Context, cmd wire.Command) error {
	if cmd.Sink == nil {
		return errors.New("pb: command without a Sink")
	}
	k, call, err := c.open(cmd)
	if err == nil {
		_, err = c.b.callRemote(ctx, call.ref, "startCommand", call.args, nil)
	}
	if err != nil {
		err = c.refused(cmd, k, err)
	}
	return err
}

// Start implements wire.Conn.Start: it sends startCommand without waiting
// for the answer, which completes the Sink when it is a refusal.
//
// The command goes to its builder's reference in the builder list set
// last, as it is when Start is called (when the start is written), not
// when the caller decided the command: a caller that queues starts must
// not set a list without a builder a queued start is for (the command is
// then refused), and pbmanager's connection never does. A builder kept in
// a new list keeps its reference's target: Buildbot's worker changes the
// builddir of the builder it has in place.
func (c *conn) Start(cmd wire.Command) {
	if cmd.Sink == nil {
		return
	}
	k, call, err := c.open(cmd)
	if err == nil {
		_, err = c.b.send(call.ref, "startCommand", call.args, nil, func(r result) {
			if r.err != nil {
				_ = c.refused(cmd, k, r.err)
			}
		})
	}
	if err != nil {
		_ = c.refused(cmd, k, err)
	}
}

// refused completes cmd, which could not start (k is nil when it was
// not tracked yet), and returns the error it was completed with.
func (c *conn) refused(cmd wire.Command, k *command, err error) error {
	err = fmt.Errorf("pb: startCommand %s %q: %w", cmd.Name, cmd.ID, err)
	if k != nil {
		k.finish(nil, err)
	} else {
		cmd.Sink.Complete(err)
	}
	return err
}

// startCall is the startCommand call of a command: on the builder's
// reference, with (commandRef, id, name, args).
type startCall struct {
	ref  RemoteRef
	args Tuple
}

// open tracks the command (it is then completed through k) and returns
// its startCommand call.
func (c *conn) open(cmd wire.Command) (k *command, call startCall, err error) {
	name, args, err := pbCommand(cmd.Name, cmd.Args)
	if err != nil {
		return nil, call, err
	}
	ref, err := c.builder(cmd.Builder)
	if err != nil {
		return nil, call, err
	}
	k = &command{conn: c, id: cmd.ID, sink: cmd.Sink}
	var key string // the argument naming the transfer object
	switch name {
	case "uploadFile", "uploadDirectory":
		up, ok := cmd.Sink.(wire.Uploader)
		if !ok {
			return nil, call, fmt.Errorf("the Sink of %s is not a wire.Uploader", name)
		}
		k.transfer, key = &writer{up: up}, "writer"
	case "downloadFile":
		down, ok := cmd.Sink.(wire.Downloader)
		if !ok {
			return nil, call, fmt.Errorf("the Sink of %s is not a wire.Downloader", name)
		}
		k.transfer, key = &reader{down: down}, "reader"
	}
	if k.luid, err = c.b.register(k); err != nil {
		return nil, call, err
	}
	if k.transfer != nil {
		if k.transferLUID, err = c.b.register(k.transfer); err != nil {
			c.b.forget(k.luid)
			return nil, call, err
		}
	}
	if err := c.track(k); err != nil {
		k.forget()
		return nil, call, err
	}
	cmdRef := c.b.export(k.luid)
	if k.transfer != nil {
		args[key] = c.b.export(k.transferLUID)
	}
	return k, startCall{ref: ref, args: Tuple{cmdRef, cmd.ID, name, args}}, nil
}

// track records k as open; ids are unique on a connection.
func (c *conn) track(k *command) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lostErr != nil {
		return c.lostErr
	}
	if _, dup := c.commands[k.id]; dup {
		return fmt.Errorf("command id %q is already running", k.id)
	}
	c.commands[k.id] = k
	return nil
}

// command is the master-side RemoteCommand the worker reports to.
type command struct {
	conn         *conn
	id           string
	luid         int64
	sink         wire.Sink
	transfer     object // the writer or reader of a transfer, or nil
	transferLUID int64
}

// finish completes the command once, with its last updates ups (held
// when the complete came): later calls do nothing. Its objects are
// forgotten without waiting for the worker's decrefs: nothing may call
// them any more, and a worker that never decrefs cannot fill the
// connection's object table.
func (k *command) finish(ups []wire.Update, err error) {
	c := k.conn
	c.mu.Lock()
	open := c.commands[k.id] == k
	if open {
		delete(c.commands, k.id)
	}
	c.mu.Unlock()
	if !open {
		return
	}
	k.forget()
	wire.Finish(k.sink, ups, err)
}

func (k *command) forget() {
	k.conn.b.forget(k.luid)
	if k.transferLUID != 0 {
		k.conn.b.forget(k.transferLUID)
	}
}

func (k *command) isOpen() bool {
	k.conn.mu.Lock()
	defer k.conn.mu.Unlock()
	return k.conn.commands[k.id] == k
}

// remote takes the worker's update([[{key: value}, n]…]) and
// complete(failure=None). update answers the highest n, as Buildbot.
func (k *command) remote(c *call) (any, error) {
	switch c.method {
	case "update":
		v, _ := c.arg(0, "updates")
		ups, maxNum, err := updates(v)
		if err != nil {
			return nil, err
		}
		if len(ups) > 0 {
			c.b.hold(k, ups)
		}
		return maxNum, nil
	case "complete":
		v, _ := c.arg(0, "failure")
		var err error
		switch f := v.(type) {
		case nil:
		case *RemoteError:
			err = f
		default:
			err = fmt.Errorf("pb: the command failed: %v", f)
		}
		// Answer first: the next command must not overtake the answer
		// (it is owed, and written before the next command).
		if c.answer {
			c.b.owe(c.id, nil)
		}
		// The updates held for k go with its end (a stock worker sends
		// them with the complete): the Sink passes both on at once.
		var ups []wire.Update
		if c.b.held.k == k {
			ups = c.b.held.ups
			c.b.held = heldUpdates{}
		}
		k.finish(ups, err)
		return nil, errAsync
	}
	return nil, noSuchMethod(c.method)
}

// maxHeld is how many updates a command's Sink may be handed at once.
const maxHeld = 64

// heldUpdates are the updates of command k not yet handed to its Sink.
type heldUpdates struct {
	k   *command
	ups []wire.Update
}

// hold keeps k's updates, to hand them to its Sink with those that follow
// at once in the input: a stock worker sends one key per update call
// (header, rc, elapsed), and a Sink sends its build one message per call.
// They are handed over (deliverHeld) before the read loop handles
// anything else (but k's complete, which takes them: finish) or waits for
// input, so the Sink sees every call in the order the worker made them.
func (b *broker) hold(k *command, ups []wire.Update) {
	if b.held.k != k {
		b.deliverHeld()
	}
	b.held.k = k
	b.held.ups = append(b.held.ups, ups...)
	if len(b.held.ups) >= maxHeld {
		b.deliverHeld()
	}
}

// deliverHeld hands the held updates to their command's Sink, unless the
// command has finished since.
func (b *broker) deliverHeld() {
	k, ups := b.held.k, b.held.ups
	if k == nil {
		return
	}
	b.held = heldUpdates{}
	if k.isOpen() {
		k.sink.Update(ups)
	}
}

// updates converts a PB update list into wire updates.
func updates(v any) ([]wire.Update, int64, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, 0, fmt.Errorf("update: updates are %T, not a list", v)
	}
	var out []wire.Update
	var maxNum int64
	for _, e := range list {
		pair := asList(e)
		if len(pair) != 2 {
			return nil, 0, errors.New("update: an update is not an [{key: value}, number] pair")
		}
		m, ok := pair[0].(map[string]any)
		num, ok2 := pair[1].(int64)
		if !ok || !ok2 {
			return nil, 0, errors.New("update: an update is not an [{key: value}, number] pair")
		}
		maxNum = max(maxNum, num)
		for key, value := range m {
			out = append(out, update(key, value))
		}
	}
	return out, maxNum, nil
}

func update(key string, value any) wire.Update {
	u := wire.Update{Key: key}
	switch key {
	case "stdout", "stderr", "header":
		u.Text = text(value)
		return u
	case "log":
		if l := asList(value); len(l) == 2 {
			u.Log, u.Text = text(l[0]), text(l[1])
			return u
		}
	case "rc":
		if i, ok := value.(int64); ok {
			u.Int = i
			return u
		}
	case "elapsed":
		switch f := value.(type) {
		case float64:
			u.Float = f
			return u
		case int64:
			u.Float = float64(f)
			return u
		}
	}
	u.Value = neutral(value)
	return u
}

func asList(v any) []any {
	switch v := v.(type) {
	case []any:
		return v
	case Tuple:
		return v
	}
	return nil
}

// writer is the FileWriter of an upload: write(data), utime((atime,
// mtime)), unpack(), close().
type writer struct{ up wire.Uploader }

func (w *writer) remote(c *call) (any, error) {
	switch c.method {
	case "write":
		v, _ := c.arg(0, "data")
		var data []byte
		switch v := v.(type) {
		case []byte:
			data = v
		case string:
			data = []byte(v)
		default:
			return nil, fmt.Errorf("write: data is %T, not bytes", v)
		}
		return nil, w.up.Write(data)
	case "utime":
		v, _ := c.arg(0, "accessed_modified")
		t := asList(v)
		if len(t) != 2 {
			return nil, errors.New("utime: want (access time, modified time)")
		}
		return nil, w.up.Utime(number64(t[0]), number64(t[1]))
	case "unpack":
		return nil, w.up.Unpack()
	case "close":
		return nil, w.up.CloseUpload()
	}
	return nil, noSuchMethod(c.method)
}

func number64(v any) float64 {
	switch v := v.(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	}
	return 0
}

// reader is the FileReader of a download: read(maxLength), close().
type reader struct{ down wire.Downloader }

func (r *reader) remote(c *call) (any, error) {
	switch c.method {
	case "read":
		v, _ := c.arg(0, "maxlength")
		n, ok := v.(int64)
		if !ok || n < 0 {
			return nil, errors.New("read: the length is not a non-negative integer")
		}
		// The answer is one Banana string, which Twisted bounds.
		p, err := r.down.Read(int(min(n, bananaSizeMax)))
		if err != nil {
			return nil, err
		}
		if len(p) > bananaSizeMax {
			return nil, fmt.Errorf("read: the Downloader returned %d bytes for %d", len(p), n)
		}
		return p, nil
	case "close":
		return nil, r.down.CloseDownload()
	}
	return nil, noSuchMethod(c.method)
}

// pbCommand rewrites a command named as the msgpack protocol names it
// into the PB form a buildbot-worker expects (its protocol_args_setup
// joins these paths to the builder's directory; absolute paths stay
// unchanged). args is copied, never modified.
func pbCommand(name string, in map[string]any) (string, map[string]any, error) {
	args := maps.Clone(in)
	if args == nil {
		args = map[string]any{}
	}
	_, hasPath := args["path"]
	move := func(from, to string) {
		if v, ok := args[from]; ok {
			args[to] = v
			delete(args, from)
		}
	}
	switch name {
	case "mkdir":
		if _, ok := args["dir"]; ok {
			break
		}
		paths := asStrings(args["paths"])
		if len(paths) != 1 {
			return "", nil, fmt.Errorf("mkdir takes exactly one path over PB, got %d", len(paths))
		}
		delete(args, "paths")
		args["dir"] = paths[0]
	case "rmdir":
		if _, ok := args["dir"]; !ok {
			move("paths", "dir")
		}
	case "cpdir":
		move("from_path", "fromdir")
		move("to_path", "todir")
	case "stat":
		if _, ok := args["file"]; !ok && hasPath {
			delete(args, "workdir")
			move("path", "file")
		}
	case "listdir":
		if _, ok := args["dir"]; !ok {
			move("path", "dir")
		}
	case "upload_file", "upload_directory", "download_file":
		if !hasPath {
			return "", nil, fmt.Errorf("%s needs a path", name)
		}
		src := "workersrc"
		if name == "download_file" {
			src = "workerdest"
		}
		args["workdir"] = ""
		move("path", src)
		name = map[string]string{
			"upload_file":      "uploadFile",
			"upload_directory": "uploadDirectory",
			"download_file":    "downloadFile",
		}[name]
	}
	return name, args, nil
}

func asStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil
			}
			out = append(out, s)
		}
		return out
	}
	return nil
}
