package msgpack

import (
	"context"
	"fmt"
	"time"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// Command is a command the master started on this worker; its methods
// report on it to the master and wait for the master's answer. They may be
// called from any goroutine, one at a time per command.
type Command struct {
	ID      string
	Builder string // the builder_name the master sent, if any
	Name    string // shell, mkdir, …, upload_file, upload_directory, download_file
	Args    map[string]any
	c       *Client
}

// Done is closed when the connection the command came on has ended.
func (cmd *Command) Done() <-chan struct{} { return cmd.c.p.Done() }

func (cmd *Command) call(ctx context.Context, op string, f frame) (any, error) {
	f["command_id"] = cmd.ID
	return cmd.c.p.call(ctx, op, f)
}

// Update sends updates (see encodeUpdates for how each is sent).
func (cmd *Command) Update(ctx context.Context, us ...wire.Update) error {
	_, err := cmd.call(ctx, "update", frame{"args": encodeUpdates(us, time.Now())})
	return err
}

// Complete ends the command: failure nil for success, or what went wrong.
func (cmd *Command) Complete(ctx context.Context, failure error) error {
	var args any
	if failure != nil {
		args = failure.Error()
	}
	defer cmd.c.forget(cmd.ID)
	_, err := cmd.call(ctx, "complete", frame{"args": args})
	return err
}

// Finish sends the last updates us and then the complete (failure nil for
// success) without waiting for the updates' answer in between: the master
// takes a worker's requests in the order they come, so the complete still
// follows the updates, and the end of a command costs one round trip
// instead of two. It returns the first failure.
func (cmd *Command) Finish(ctx context.Context, us []wire.Update, failure error) error {
	var args any
	if failure != nil {
		args = failure.Error()
	}
	defer cmd.c.forget(cmd.ID)
	return cmd.c.p.callAll(ctx,
		frame{"op": "update", "command_id": cmd.ID, "args": encodeUpdates(us, time.Now())},
		frame{"op": "complete", "command_id": cmd.ID, "args": args})
}

func (cmd *Command) uploadOp(kind string) string {
	if cmd.Name == "upload_directory" {
		return "update_upload_directory_" + kind
	}
	return "update_upload_file_" + kind
}

// Write sends a block of an upload_file, or of upload_directory's tar
// stream.
func (cmd *Command) Write(ctx context.Context, p []byte) error {
	_, err := cmd.call(ctx, cmd.uploadOp("write"), frame{"args": p})
	return err
}

// CloseUpload ends an upload_file's stream.
func (cmd *Command) CloseUpload(ctx context.Context) error {
	_, err := cmd.call(ctx, "update_upload_file_close", frame{})
	return err
}

// Utime sends an uploaded file's times (keepstamp), in seconds since 1970.
func (cmd *Command) Utime(ctx context.Context, accessTime, modifiedTime float64) error {
	_, err := cmd.call(ctx, "update_upload_file_utime",
		frame{"access_time": accessTime, "modified_time": modifiedTime})
	return err
}

// Unpack asks the master to extract upload_directory's tar stream.
func (cmd *Command) Unpack(ctx context.Context) error {
	_, err := cmd.call(ctx, "update_upload_directory_unpack", frame{})
	return err
}

// Read asks for the next at most n bytes of a download_file; an empty
// answer is the end of the file.
func (cmd *Command) Read(ctx context.Context, n int) ([]byte, error) {
	v, err := cmd.call(ctx, "update_read_file", frame{"length": n})
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case []byte:
		return x, nil
	case nil:
		return nil, nil
	case string:
		return []byte(x), nil
	}
	return nil, fmt.Errorf("update_read_file: answer is a %T, want bytes", v)
}

// CloseRead ends a download_file's reading.
func (cmd *Command) CloseRead(ctx context.Context) error {
	_, err := cmd.call(ctx, "update_read_file_close", frame{})
	return err
}
