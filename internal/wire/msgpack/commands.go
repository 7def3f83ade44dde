package msgpack

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// command is one open remote command on a connection.
type command struct {
	id    string
	name  string // the wire name (upload_file, not uploadFile)
	up    wire.Uploader
	down  wire.Downloader
	block int64 // transfers: the largest block the worker may send or ask for
	max   int64 // uploads: the most bytes that may arrive; < 0 for no limit

	mu      sync.Mutex // serialises the Sink's calls
	sink    wire.Sink
	ended   bool
	written int64
}

// StartCommand registers cmd, then sends start_command: the worker may
// report on the command before it answers.
func (c *serverConn) StartCommand(ctx context.Context, wc wire.Command) error {
	ch := make(chan error, 1)
	if err := c.start(wc, func(err error) { ch <- err }); err != nil {
		return err
	}
	// On ctx's end the request stays pending: a late refusal still
	// completes the command.
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return fmt.Errorf("start_command: %w", ctx.Err())
	}
}

// Start implements wire.Conn.Start.
func (c *serverConn) Start(wc wire.Command) { _ = c.start(wc, nil) }

// start registers cmd and sends start_command; accepted, when set, gets
// the worker's answer (nil: accepted) on the reader, after a refusal has
// completed the command. An error says start_command was not sent, and
// the command is completed with it.
func (c *serverConn) start(wc wire.Command, accepted func(error)) error {
	if wc.Sink == nil {
		return fmt.Errorf("start %s %q: no Sink", wc.Name, wc.ID)
	}
	cmd, args, err := c.prepare(wc)
	if err == nil {
		err = c.register(cmd)
	}
	if err != nil {
		err = fmt.Errorf("start %s %q: %w", wc.Name, wc.ID, err)
		wc.Sink.Complete(err)
		return err
	}
	msg := frame{"op": "start_command", "builder_name": wc.Builder, "command_id": wc.ID,
		"command_name": cmd.name, "args": args}
	_, err = c.p.request(msg, func(_ any, err error) {
		if err != nil {
			var re *RemoteError
			if errors.As(err, &re) {
				re.Op = "start_command"
			} else {
				err = fmt.Errorf("start_command: %w", err)
			}
			c.end(cmd, err)
		}
		if accepted != nil {
			accepted(err)
		}
	})
	if err != nil {
		err = fmt.Errorf("start_command: %w", err)
		c.end(cmd, err)
	}
	return err
}

func (c *serverConn) register(cmd *command) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.p.Err(); err != nil {
		return err
	}
	if _, dup := c.commands[cmd.id]; dup {
		return fmt.Errorf("command id %q is already open on this connection", cmd.id)
	}
	c.commands[cmd.id] = cmd
	c.p.allowFrames(cmd.id, cmd.block)
	return nil
}

func (c *serverConn) command(id string) *command {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commands[id]
}

// end forgets cmd and completes it, once, with the updates held for it
// (a worker sends its last updates with the complete): the Sink passes
// both on at once (wire.Finish).
func (c *serverConn) end(cmd *command, err error) {
	c.mu.Lock()
	if c.commands[cmd.id] == cmd {
		delete(c.commands, cmd.id)
		c.p.allowFrames(cmd.id, 0)
	}
	c.mu.Unlock()
	var ups []wire.Update
	c.heldMu.Lock()
	if c.held.cmd == cmd {
		ups = c.held.ups
		c.held = heldUpdates{}
	}
	c.heldMu.Unlock()
	cmd.mu.Lock()
	defer cmd.mu.Unlock()
	if !cmd.ended {
		cmd.ended = true
		wire.Finish(cmd.sink, ups, err)
	}
}

// maxHeld is how many updates a command's Sink may be handed at once.
const maxHeld = 64

// heldUpdates are the updates of command cmd not yet handed to its Sink.
type heldUpdates struct {
	cmd *command
	ups []wire.Update
}

// hold keeps cmd's updates, to hand them to its Sink with those that
// follow at once in the input, or with its complete (end): a Sink sends
// its build one message per call. They are handed over (deliverHeld)
// before the reader handles a request about something else or reads from
// the socket (heldConn.settle), so the Sink sees every call in the order
// the worker made them, and a lone update as soon as it came.
func (c *serverConn) hold(cmd *command, ups []wire.Update) {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	if c.held.cmd != cmd {
		c.deliverHeldLocked()
	}
	c.held.cmd = cmd
	c.held.ups = append(c.held.ups, ups...)
	if len(c.held.ups) >= maxHeld {
		c.deliverHeldLocked()
	}
}

// deliverHeld hands the held updates to their command's Sink, unless the
// command has ended since.
func (c *serverConn) deliverHeld() {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	c.deliverHeldLocked()
}

func (c *serverConn) deliverHeldLocked() {
	cmd, ups := c.held.cmd, c.held.ups
	if cmd == nil {
		return
	}
	c.held = heldUpdates{}
	_, _ = cmd.with(func() (any, error) { cmd.sink.Update(ups); return nil, nil })
}

// completeAll ends every open command once the connection is gone.
func (c *serverConn) completeAll(err error) {
	c.mu.Lock()
	cmds := c.commands
	c.commands = map[string]*command{}
	c.mu.Unlock()
	for _, cmd := range cmds {
		c.end(cmd, err)
	}
}

// with runs fn under cmd's lock unless the command has ended.
func (cmd *command) with(fn func() (any, error)) (any, error) {
	cmd.mu.Lock()
	defer cmd.mu.Unlock()
	if cmd.ended {
		return nil, answer(`unknown "command_id"`)
	}
	return fn()
}

// workerOps are the requests a worker makes about a command it runs.
var workerOps = map[string]func(*serverConn, *command, frame) (any, error){
	"update":                         opUpdate,
	"complete":                       opComplete,
	"update_upload_file_write":       opUploadWrite,
	"update_upload_directory_write":  opUploadWrite,
	"update_upload_file_close":       uploadOp(func(u wire.Uploader) error { return u.CloseUpload() }),
	"update_upload_directory_unpack": uploadOp(func(u wire.Uploader) error { return u.Unpack() }),
	"update_upload_file_utime":       opUtime,
	"update_read_file":               opRead,
	"update_read_file_close":         downloadOp(func(d wire.Downloader) error { return d.CloseDownload() }),
}

func opUpdate(c *serverConn, cmd *command, f frame) (any, error) {
	v, ok := f["args"]
	if !ok {
		return nil, answer(`message did not contain obligatory "args" key`)
	}
	us, err := decodeUpdates(v)
	if err != nil {
		return nil, err
	}
	cmd.mu.Lock()
	ended := cmd.ended
	cmd.mu.Unlock()
	if ended {
		return nil, answer(`unknown "command_id"`)
	}
	c.hold(cmd, us)
	return nil, nil
}

func opComplete(c *serverConn, cmd *command, f frame) (any, error) {
	v, ok := f["args"]
	if !ok {
		return nil, answer(`message did not contain obligatory "args" key`)
	}
	var err error
	switch x := v.(type) {
	case nil:
	case string:
		err = &RemoteError{Op: "complete", Message: x}
	default:
		err = &RemoteError{Op: "complete", Message: fmt.Sprint(x)}
	}
	c.end(cmd, err)
	return nil, nil
}

func opUploadWrite(_ *serverConn, cmd *command, f frame) (any, error) {
	if cmd.up == nil {
		return nil, answer(`unknown "command_id"`)
	}
	var data []byte
	switch x := f["args"].(type) {
	case []byte:
		data = x
	case string:
		data = []byte(x)
	default:
		return nil, answer(`message did not contain obligatory "args" key`)
	}
	return cmd.with(func() (any, error) {
		if cmd.max >= 0 && cmd.written+int64(len(data)) > cmd.max {
			return nil, fmt.Errorf("upload is over its maxsize of %d bytes", cmd.max)
		}
		cmd.written += int64(len(data))
		return nil, cmd.up.Write(data)
	})
}

func uploadOp(fn func(wire.Uploader) error) func(*serverConn, *command, frame) (any, error) {
	return func(_ *serverConn, cmd *command, _ frame) (any, error) {
		if cmd.up == nil {
			return nil, answer(`unknown "command_id"`)
		}
		return cmd.with(func() (any, error) { return nil, fn(cmd.up) })
	}
}

func downloadOp(fn func(wire.Downloader) error) func(*serverConn, *command, frame) (any, error) {
	return func(_ *serverConn, cmd *command, _ frame) (any, error) {
		if cmd.down == nil {
			return nil, answer(`unknown "command_id"`)
		}
		return cmd.with(func() (any, error) { return nil, fn(cmd.down) })
	}
}

// opUtime passes the times themselves (Buildbot 3.7's master passed the
// key names).
func opUtime(_ *serverConn, cmd *command, f frame) (any, error) {
	if cmd.up == nil {
		return nil, answer(`unknown "command_id"`)
	}
	at, ok1 := asFloat(f["access_time"])
	mt, ok2 := asFloat(f["modified_time"])
	if !ok1 || !ok2 {
		return nil, answer(`message did not contain obligatory "access_time" and "modified_time" keys`)
	}
	return cmd.with(func() (any, error) { return nil, cmd.up.Utime(at, mt) })
}

// opRead answers with the bytes read (Buildbot 3.7's master answered
// None, which made every msgpack download empty). A request for more than
// the command's blocksize gets a blocksize.
func opRead(_ *serverConn, cmd *command, f frame) (any, error) {
	if cmd.down == nil {
		return nil, answer(`unknown "command_id"`)
	}
	n, ok := f.int("length")
	if !ok || n < 0 {
		return nil, answer(`message did not contain obligatory "length" key`)
	}
	n = min(n, cmd.block)
	return cmd.with(func() (any, error) {
		b, err := cmd.down.Read(int(n))
		if b == nil {
			b = []byte{}
		}
		return b, err
	})
}
