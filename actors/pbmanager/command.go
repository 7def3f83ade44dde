package pbmanager

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/internal/filetransfer"
	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/messages"
)

// wireCommand is m as Buildbot's RemoteCommand sends it: the command's name
// and its args (paths relative to the builder's directory; each protocol
// turns them into its wire form), with s as its Sink, or, for a transfer,
// s with the master's side of the transfer (a FileWriter, DirectoryWriter
// or Reader, which the Sink's Complete releases). An error means the
// command cannot be run at all (nothing was opened).
func wireCommand(m *messages.StartCommand, s *sink) (wire.Command, error) {
	c := wire.Command{ID: m.GetCommandId(), Builder: m.GetBuilder(), Sink: s}
	switch k := m.GetCommand().(type) {
	case *messages.StartCommand_Shell:
		c.Name, c.Args = "shell", shellArgs(k.Shell)
	case *messages.StartCommand_Mkdir:
		c.Name, c.Args = "mkdir", map[string]any{"dir": dirs(k.Mkdir.GetPaths())}
	case *messages.StartCommand_Rmdir:
		c.Name, c.Args = "rmdir", map[string]any{"dir": dirs(k.Rmdir.GetPaths())}
	case *messages.StartCommand_Cpdir:
		c.Name, c.Args = "cpdir", map[string]any{"fromdir": k.Cpdir.GetFromdir(), "todir": k.Cpdir.GetTodir()}
	case *messages.StartCommand_Stat:
		c.Name, c.Args = "stat", map[string]any{"workdir": k.Stat.GetWorkdir(), "file": k.Stat.GetFile()}
	case *messages.StartCommand_Glob:
		c.Name, c.Args = "glob", map[string]any{"path": k.Glob.GetPath()}
	case *messages.StartCommand_Listdir:
		c.Name, c.Args = "listdir", map[string]any{"dir": k.Listdir.GetPath()}
	case *messages.StartCommand_Rmfile:
		c.Name, c.Args = "rmfile", map[string]any{"path": k.Rmfile.GetPath()}
	case *messages.StartCommand_UploadFile:
		u := k.UploadFile
		if err := positive("uploadFile", u.GetBlocksize()); err != nil {
			return c, err
		}
		var mode *fs.FileMode
		if u.Mode != nil {
			m := fs.FileMode(u.GetMode() & 0o7777)
			mode = &m
		}
		w, err := filetransfer.NewFileWriter(u.GetUploadsRoot(), u.GetMasterdest(), maxsize(u.Maxsize), mode)
		if err != nil {
			return c, err
		}
		c.Name, c.Args = "uploadFile", map[string]any{"workdir": u.GetWorkdir(), "workersrc": u.GetWorkersrc(),
			"blocksize": u.GetBlocksize(), "maxsize": optional(u.Maxsize), "keepstamp": u.GetKeepstamp()}
		c.Sink, s.release = &uploadSink{sink: s, w: w, file: w}, w.Cancel
	case *messages.StartCommand_UploadDirectory:
		u := k.UploadDirectory
		if err := positive("uploadDirectory", u.GetBlocksize()); err != nil {
			return c, err
		}
		w, err := filetransfer.NewDirectoryWriter(u.GetUploadsRoot(), u.GetMasterdest(), maxsize(u.Maxsize), u.GetCompress())
		if err != nil {
			return c, err
		}
		var compress any
		if u.GetCompress() != "" {
			compress = u.GetCompress()
		}
		c.Name, c.Args = "uploadDirectory", map[string]any{"workdir": u.GetWorkdir(), "workersrc": u.GetWorkersrc(),
			"blocksize": u.GetBlocksize(), "maxsize": optional(u.Maxsize), "compress": compress}
		c.Sink, s.release = &uploadSink{sink: s, w: w, dir: w}, w.Cancel
	case *messages.StartCommand_DownloadFile:
		d := k.DownloadFile
		if err := positive("downloadFile", d.GetBlocksize()); err != nil {
			return c, err
		}
		var r *filetransfer.Reader
		switch src := d.GetSource().(type) {
		case *messages.DownloadFileCommand_MasterPath:
			var err error
			if r, err = filetransfer.OpenFile(src.MasterPath); err != nil {
				return c, err
			}
		case *messages.DownloadFileCommand_Data:
			r = filetransfer.Bytes(src.Data)
		default:
			return c, errors.New("download_file has no source")
		}
		var mode any
		if d.Mode != nil {
			mode = int64(d.GetMode() & 0o7777)
		}
		c.Name, c.Args = "downloadFile", map[string]any{"workdir": d.GetWorkdir(), "workerdest": d.GetWorkerdest(),
			"blocksize": d.GetBlocksize(), "maxsize": optional(d.Maxsize), "mode": mode}
		c.Sink, s.release = &downloadSink{sink: s, r: r}, func() { r.Close() }
	default:
		return c, fmt.Errorf("command %q has no kind this master runs", m.GetCommandId())
	}
	return c, nil
}

// positive refuses a transfer's blocksize that is not positive (the step
// fills in Buildbot's default).
func positive(name string, blocksize int64) error {
	if blocksize <= 0 {
		return fmt.Errorf("%s: blocksize %d is not positive", name, blocksize)
	}
	return nil
}

// shellArgs are RemoteShellCommand's args for s: an argv is a list, a
// script a string (which the worker runs with /bin/sh -c); timeouts are
// seconds, None when unset.
func shellArgs(s *messages.ShellCommand) map[string]any {
	var command any = s.GetScript()
	if len(s.GetArgv()) > 0 {
		argv := make([]any, len(s.GetArgv()))
		for i, a := range s.GetArgv() {
			argv[i] = a
		}
		command = argv
	}
	var env any
	if len(s.GetEnv()) > 0 {
		m := make(map[string]any, len(s.GetEnv()))
		for k, v := range s.GetEnv() {
			m[k] = v
		}
		env = m
	}
	return map[string]any{
		"workdir": s.GetWorkdir(), "command": command, "env": env,
		"want_stdout": int64(1), "want_stderr": int64(1), "logfiles": map[string]any{},
		"timeout": seconds(s.GetTimeout()), "maxTime": seconds(s.GetMaxTime()), "sigtermTime": seconds(s.GetSigtermGrace()),
		"usePTY": false, "logEnviron": true, "initial_stdin": nil,
	}
}

// seconds is d in seconds (an integer when whole), or nil when unset.
func seconds(d *durationpb.Duration) any {
	if d == nil {
		return nil
	}
	t := d.AsDuration()
	if t%time.Second == 0 {
		return int64(t / time.Second)
	}
	return t.Seconds()
}

// dirs is one directory as a string (what every worker takes, PB's
// included), several as a list.
func dirs(paths []string) any {
	if len(paths) == 1 {
		return paths[0]
	}
	l := make([]any, len(paths))
	for i, p := range paths {
		l[i] = p
	}
	return l
}

func optional(v *int64) any {
	if v == nil {
		return nil
	}
	return *v
}

func maxsize(v *int64) int64 {
	if v == nil {
		return -1
	}
	return *v
}
