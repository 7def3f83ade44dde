package msgpack

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// runTransfer starts one transfer command on a Go worker whose script is
// run and waits for its end.
func runTransfer(t *testing.T, name string, args map[string]any, x *transfer, run func(*Command) error) (workerErr, completeErr error) {
	t.Helper()
	m := startMaster(t, ServerOptions{})
	w := newGoWorker()
	done := make(chan error, 1)
	w.run = func(cmd *Command) {
		err := run(cmd)
		done <- err
		_ = cmd.Complete(context.Background(), err)
	}
	_, conn := connect(t, m, w)
	if err := conn.StartCommand(testCtx(t), wire.Command{ID: "t", Name: name, Args: args, Sink: x}); err != nil {
		t.Fatal(err)
	}
	workerErr = recv(t, done, "the worker's end")
	return workerErr, x.ended(t)
}

func TestUploadFile(t *testing.T) {
	x := newTransfer(nil)
	werr, err := runTransfer(t, "uploadFile", map[string]any{"blocksize": 16, "maxsize": nil, "keepstamp": true}, x,
		func(cmd *Command) error {
			ctx := context.Background()
			if cmd.Name != "upload_file" {
				t.Errorf("the worker got %q, want upload_file", cmd.Name)
			}
			for _, b := range []string{"hello ", "world"} {
				if err := cmd.Write(ctx, []byte(b)); err != nil {
					return err
				}
			}
			if err := cmd.CloseUpload(ctx); err != nil {
				return err
			}
			return cmd.Utime(ctx, 1.5, 1700000000.25)
		})
	if werr != nil || err != nil {
		t.Fatal(werr, err)
	}
	if x.got.String() != "hello world" || !x.closed || x.atime != 1.5 || x.mtime != 1700000000.25 {
		t.Errorf("got %q closed=%v times %v %v", x.got.String(), x.closed, x.atime, x.mtime)
	}
}

func TestUploadOverMaxsize(t *testing.T) {
	x := newTransfer(nil)
	werr, _ := runTransfer(t, "upload_file", map[string]any{"blocksize": 16, "maxsize": 5}, x,
		func(cmd *Command) error {
			if err := cmd.Write(context.Background(), []byte("12345")); err != nil {
				return err
			}
			return cmd.Write(context.Background(), []byte("6"))
		})
	var re *RemoteError
	if !errors.As(werr, &re) || re.Message != "upload is over its maxsize of 5 bytes" {
		t.Errorf("the 6th byte's write: %v", werr)
	}
	if x.got.String() != "12345" {
		t.Errorf("got %q", x.got.String())
	}
}

func TestUploadDirectory(t *testing.T) {
	x := newTransfer(nil)
	werr, err := runTransfer(t, "upload_directory", map[string]any{"blocksize": 4, "compress": "gz"}, x,
		func(cmd *Command) error {
			if cmd.Args["maxsize"] != nil {
				t.Errorf("maxsize = %v, want nil", cmd.Args["maxsize"])
			}
			if err := cmd.Write(context.Background(), []byte("tar!")); err != nil {
				return err
			}
			return cmd.Unpack(context.Background())
		})
	if werr != nil || err != nil {
		t.Fatal(werr, err)
	}
	if x.got.String() != "tar!" || !x.unpacked {
		t.Errorf("got %q unpacked=%v", x.got.String(), x.unpacked)
	}
}

// TestDownloadFile: the worker's reads get the master's bytes (Buildbot
// 3.7 answered None, so every download was empty), at most a blocksize
// at a time.
func TestDownloadFile(t *testing.T) {
	src := make([]byte, 10000)
	for i := range src {
		src[i] = byte(rand.IntN(256))
	}
	x := newTransfer(src)
	var got bytes.Buffer
	werr, err := runTransfer(t, "downloadFile", map[string]any{"blocksize": 4096, "maxsize": nil, "mode": nil}, x,
		func(cmd *Command) error {
			ctx := context.Background()
			for {
				b, err := cmd.Read(ctx, 8192)
				if err != nil {
					return err
				}
				if len(b) == 0 {
					return cmd.CloseRead(ctx)
				}
				got.Write(b)
			}
		})
	if werr != nil || err != nil {
		t.Fatal(werr, err)
	}
	if !bytes.Equal(got.Bytes(), src) || !x.readClosed {
		t.Errorf("got %d bytes (equal: %v), closed=%v", got.Len(), bytes.Equal(got.Bytes(), src), x.readClosed)
	}
	for _, n := range x.reads {
		if n != 4096 {
			t.Errorf("the master read %d bytes for a request of 8192 with blocksize 4096", n)
		}
	}
}
