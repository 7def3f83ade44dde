package worker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/internal/workercmd"
	"github.com/buildmaster/buildmaster/messages"
)

// command is one running command. Its goroutine sends its updates, but
// for output gathered for a moment (out), which it takes for its complete:
// the updates reach the master in order, complete last.
type command struct {
	id      string
	kind    string
	ctx     context.Context // ends on interrupt, lost master, stop
	cancel  context.CancelFunc
	link    *link
	basedir string
	log     *slog.Logger
	chunks  *chunkQueue // download_file only
	out     *outputs    // shell only
}

// Sizes of what the worker sends: an update's output, and an upload_file
// block at most (the master's blocksize is capped to it) and by default.
//
// protoactor's endpoint writer puts up to remoting.WriterBatchSize queued
// messages into one gRPC message, and the master takes at most
// remoting.MaxMessageBytes in one: while each message stays under
// 64 KiB no batch can be too large.
const (
	maxMessageData   = 32 << 10
	outputChunk      = maxMessageData
	maxUploadBlock   = maxMessageData
	defaultBlocksize = maxMessageData
)

// run executes start and sends its updates and exactly one complete.
func (c *command) run(start *messages.StartCommand) {
	begin := time.Now()
	var done *messages.CommandComplete
	if c.ctx.Err() != nil {
		done = &messages.CommandComplete{Rc: -1, Error: "command interrupted before it started", Interrupted: true}
	} else {
		done = c.exec(start)
	}
	if done.Elapsed == nil {
		done.Elapsed = durationpb.New(time.Since(begin))
	}
	c.log.Info("command finished", "command_id", c.id, "kind", c.kind, "rc", done.Rc,
		"error", done.Error, "interrupted", done.Interrupted, "elapsed", time.Since(begin))
	u := &messages.CommandUpdate{CommandId: c.id, Kind: &messages.CommandUpdate_Complete{Complete: done}}
	if c.out != nil {
		u.Outputs = c.out.take()
	}
	c.link.update(u)
}

func (c *command) exec(start *messages.StartCommand) *messages.CommandComplete {
	switch k := start.GetCommand().(type) {
	case *messages.StartCommand_Shell:
		return c.shell(k.Shell)
	case *messages.StartCommand_Mkdir:
		return result(workercmd.Mkdir(c.paths(k.Mkdir.GetPaths())))
	case *messages.StartCommand_Rmdir:
		return result(workercmd.Rmdir(c.paths(k.Rmdir.GetPaths())))
	case *messages.StartCommand_Rmfile:
		return result(workercmd.Rmfile(c.path(k.Rmfile.GetPath())))
	case *messages.StartCommand_Stat:
		st, err := workercmd.Stat(c.path(k.Stat.GetPath()))
		if err != nil {
			return result(err)
		}
		mode := st.RawMode
		if mode == 0 {
			mode = uint32(st.Mode.Perm())
		}
		return &messages.CommandComplete{Stat: &messages.FileStat{
			Mode: mode, Size: st.Size, Mtime: st.ModTime.Unix(), IsDir: st.IsDir()}}
	case *messages.StartCommand_Glob:
		files, err := workercmd.Glob(c.path(k.Glob.GetPath()))
		if err != nil {
			return result(err)
		}
		return &messages.CommandComplete{Files: files}
	case *messages.StartCommand_Listdir:
		files, err := workercmd.Listdir(c.path(k.Listdir.GetPath()))
		if err != nil {
			return result(err)
		}
		return &messages.CommandComplete{Files: files}
	case *messages.StartCommand_UploadFile:
		return c.upload(k.UploadFile)
	case *messages.StartCommand_DownloadFile:
		return c.download(k.DownloadFile)
	}
	return &messages.CommandComplete{Rc: -1, Error: "unknown command kind"}
}

// result is the complete of a file operation: rc 0, or rc 1 and the error.
func result(err error) *messages.CommandComplete {
	if err != nil {
		return &messages.CommandComplete{Rc: 1, Error: err.Error()}
	}
	return &messages.CommandComplete{}
}

// path makes p absolute: relative paths are relative to the base directory.
func (c *command) path(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(c.basedir, p)
}

func (c *command) paths(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = c.path(p)
	}
	return out
}

var streams = map[workercmd.Stream]messages.OutputStream{
	workercmd.Stdout: messages.OutputStream_OUTPUT_STREAM_STDOUT,
	workercmd.Stderr: messages.OutputStream_OUTPUT_STREAM_STDERR,
	workercmd.Header: messages.OutputStream_OUTPUT_STREAM_HEADER,
}

func (c *command) shell(s *messages.ShellCommand) *messages.CommandComplete {
	// Buildbot's worker creates a missing workdir.
	wd := c.path(s.GetWorkdir())
	if err := os.MkdirAll(wd, 0o777); err != nil {
		return &messages.CommandComplete{Rc: -1, Error: fmt.Sprintf("workdir: %v", err)}
	}
	c.out = &outputs{c: c}
	res := workercmd.RunShell(c.ctx, workercmd.Shell{
		Argv:         s.GetArgv(),
		Script:       s.GetScript(),
		Workdir:      wd,
		Env:          s.GetEnv(),
		Unset:        s.GetUnsetEnv(),
		LogEnviron:   true, // Buildbot's default; the protocol has no switch
		Timeout:      s.GetTimeout().AsDuration(),
		MaxTime:      s.GetMaxTime().AsDuration(),
		SigtermGrace: s.GetSigtermGrace().AsDuration(),
		MaxChunk:     outputChunk,
	}, func(st workercmd.Stream, chunk []byte) { c.out.add(streams[st], chunk) })
	done := &messages.CommandComplete{
		Rc:              int32(res.ExitCode),
		TimedOut:        res.TimedOut,
		MaxTimeExceeded: res.MaxTimeExceeded,
		Interrupted:     res.Interrupted,
		Elapsed:         durationpb.New(res.Elapsed),
		Signal:          res.Signal,
	}
	if res.Err != nil {
		done.Error = res.Err.Error()
	}
	return done
}

// upload sends the file as upload_chunk updates, the last one with eof
// (an empty file is one empty eof chunk), then completes. One block is
// held back so that the last one can carry eof.
func (c *command) upload(u *messages.UploadFileCommand) *messages.CommandComplete {
	bs := int(u.GetBlocksize())
	if bs <= 0 {
		bs = defaultBlocksize
	}
	bs = min(bs, maxUploadBlock)
	var held []byte
	flush := func(eof bool) {
		c.link.update(&messages.CommandUpdate{CommandId: c.id, Kind: &messages.CommandUpdate_UploadChunk{
			UploadChunk: &messages.FileChunk{CommandId: c.id, Data: held, Eof: eof}}})
	}
	started := false
	_, err := workercmd.UploadFile(c.path(u.GetPath()), bs, u.GetMaxsize(), func(chunk []byte) error {
		if err := c.ctx.Err(); err != nil {
			return errInterrupted
		}
		if started {
			flush(false)
		}
		started = true
		held = append([]byte(nil), chunk...)
		return nil
	})
	switch {
	case errors.Is(err, errInterrupted):
		return &messages.CommandComplete{Rc: -1, Error: "upload interrupted", Interrupted: true}
	case err != nil:
		return &messages.CommandComplete{Rc: 1, Error: err.Error()}
	}
	flush(true)
	return &messages.CommandComplete{}
}

var errInterrupted = errors.New("interrupted")

// download writes the download_chunk data the master sends for this
// command into the file, and renames it into place on eof. Anything
// going wrong leaves no file behind.
func (c *command) download(d *messages.DownloadFileCommand) *messages.CommandComplete {
	dl, err := workercmd.NewDownload(c.path(d.GetPath()), d.GetMaxsize(), fs.FileMode(d.GetMode()&0o7777))
	if err != nil {
		return &messages.CommandComplete{Rc: 1, Error: err.Error()}
	}
	for {
		ch, err := c.chunks.next(c.ctx)
		if err != nil {
			dl.Abort()
			if c.ctx.Err() != nil {
				return &messages.CommandComplete{Rc: -1, Error: "download interrupted", Interrupted: true}
			}
			return &messages.CommandComplete{Rc: 1, Error: err.Error()}
		}
		if _, err := dl.Write(ch.GetData()); err != nil {
			dl.Abort()
			return &messages.CommandComplete{Rc: 1, Error: err.Error()}
		}
		if ch.GetEof() {
			if err := dl.Close(); err != nil {
				return &messages.CommandComplete{Rc: 1, Error: err.Error()}
			}
			return &messages.CommandComplete{}
		}
	}
}
