package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/buildmaster/buildmaster/internal/wire/msgpack"
	"github.com/buildmaster/buildmaster/internal/workercmd"
)

// maxBlock bounds the blocksize a master may ask for (one block is one
// message).
const maxBlock = 4 << 20

// blocksize is the transfer's blocksize argument, bounded.
func (a *args) blocksize() int {
	b := a.integer("blocksize")
	if b <= 0 {
		a.fail(`argument "blocksize" is missing or not positive`)
		return 1
	}
	return int(min(b, maxBlock))
}

// tooLarge is Buildbot's worker's stderr for a transfer past its maxsize.
func tooLarge(path string) string {
	return fmt.Sprintf("Maximum filesize reached, truncating file '%s'", path)
}

// uploadFile sends the file at path to the master's writer in blocks,
// then closes it (and sends its times with keepstamp). A file over maxsize
// is not closed: the master keeps nothing of it.
func (w *worker) uploadFile(ctx context.Context, r *reporter, a args) error {
	path, block, maxsize, keepstamp := a.path("path"), a.blocksize(), a.integer("maxsize"), a.flag("keepstamp", false)
	if a.err != nil {
		return a.err
	}
	r.add(header(fmt.Sprintf("sending %s\n", path)))
	var st os.FileInfo
	if keepstamp {
		var err error
		if st, err = os.Stat(path); err != nil {
			r.add(stderrText(fmt.Sprintf("Cannot open file '%s' for upload", path)), rc(1))
			return nil
		}
	}
	_, err := workercmd.UploadFile(path, block, max(maxsize, 0), func(chunk []byte) error {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return r.cmd.Write(context.Background(), chunk)
	})
	switch {
	case errors.Is(err, workercmd.ErrTooLarge):
		r.add(stderrText(tooLarge(path)), rc(1))
		return nil
	case errors.Is(err, errInterrupted):
		r.add(rc(1))
		return nil
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission):
		r.add(stderrText(fmt.Sprintf("Cannot open file '%s' for upload", path)), rc(1))
		return nil
	case err != nil:
		return err
	}
	if err := r.cmd.CloseUpload(context.Background()); err != nil {
		return err
	}
	if keepstamp {
		atime := st.ModTime()
		if s, err := workercmd.Stat(path); err == nil {
			atime = s.AccessTime
		}
		if err := r.cmd.Utime(context.Background(), float64(atime.UnixNano())/1e9, float64(st.ModTime().UnixNano())/1e9); err != nil {
			return err
		}
	}
	r.add(rc(0))
	return nil
}

var errInterrupted = errors.New("interrupted")

// uploadDirectory sends the directory at path as a tar stream (compressed
// with compress: None, "gz" or "bz2", which Go cannot write: refused), then
// asks the master to unpack it.
func (w *worker) uploadDirectory(ctx context.Context, r *reporter, a args) error {
	path, block, maxsize := a.path("path"), a.blocksize(), a.integer("maxsize")
	compress, _ := a.m["compress"].(string)
	if a.err != nil {
		return a.err
	}
	if compress == "bz2" {
		return errors.New("this worker cannot compress with bz2; use gz or none")
	}
	r.add(header(fmt.Sprintf("sending %s\n", path)))
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(workercmd.Tar(pw, path, compress == "gz")) }()
	defer pr.Close()
	buf := make([]byte, block)
	var sent int64
	for {
		if ctx.Err() != nil {
			r.add(rc(1))
			return nil
		}
		n, err := io.ReadFull(pr, buf)
		if n > 0 {
			if maxsize >= 0 && sent+int64(n) > maxsize {
				r.add(stderrText(tooLarge(path)), rc(1))
				return nil
			}
			if werr := r.cmd.Write(context.Background(), buf[:n]); werr != nil {
				return werr
			}
			sent += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			r.add(stderrText(fmt.Sprintf("cannot archive '%s': %v", path, err)), rc(1))
			return nil
		}
	}
	if err := r.cmd.Unpack(context.Background()); err != nil {
		return err
	}
	r.add(rc(0))
	return nil
}

// download writes the file at path from the master's reader, in blocks
// until it answers nothing; with mode when given. Nothing is left of a
// download that fails or goes past maxsize.
func (w *worker) download(ctx context.Context, r *reporter, a args) error {
	path, block, maxsize := a.path("path"), a.blocksize(), a.integer("maxsize")
	mode := a.integer("mode")
	if a.err != nil {
		return a.err
	}
	var perm fs.FileMode
	if mode >= 0 {
		perm = fs.FileMode(mode & 0o7777)
	}
	dl, err := workercmd.NewDownload(path, max(maxsize, 0), perm)
	if err != nil {
		r.add(stderrText(fmt.Sprintf("Cannot open file '%s' for download", path)), rc(1))
		return nil
	}
	defer dl.Abort()
	for {
		if ctx.Err() != nil {
			r.add(rc(1))
			return nil
		}
		n := block
		if maxsize >= 0 {
			n = int(min(int64(block), maxsize-dl.Written()+1))
		}
		data, err := r.cmd.Read(context.Background(), n)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			break
		}
		if _, err := dl.Write(data); errors.Is(err, workercmd.ErrTooLarge) {
			_ = r.cmd.CloseRead(context.Background())
			r.add(stderrText(tooLarge(path)), rc(1))
			return nil
		} else if err != nil {
			_ = r.cmd.CloseRead(context.Background())
			r.add(stderrText(err.Error()), rc(1))
			return nil
		}
	}
	if err := r.cmd.CloseRead(context.Background()); err != nil {
		return err
	}
	if err := dl.Close(); err != nil {
		r.add(stderrText(err.Error()), rc(1))
		return nil
	}
	r.add(rc(0))
	return nil
}

// cpdir copies from_path to to_path with cp -R -P -p, as Buildbot's worker
// does, its output in the command's header.
func (w *worker) cpdir(ctx context.Context, r *reporter, a args, s msgpack.Settings) error {
	from, to := a.path("from_path"), a.path("to_path")
	if a.err != nil {
		return a.err
	}
	if err := mkdirs(filepath.Dir(to)); err != nil {
		r.add(header(fmt.Sprintf("cpdir: %v\n", err)), rc(errno(err)))
		return nil
	}
	timeout := a.seconds("timeout")
	if _, ok := a.m["timeout"]; !ok {
		timeout = 120 * time.Second // Buildbot's worker's
	}
	w.runShell(ctx, r, workercmd.Shell{Argv: []string{"cp", "-R", "-P", "-p", "-v", from, to}, Workdir: w.o.Basedir,
		Timeout: timeout, MaxTime: a.seconds("maxTime"), LogEnviron: a.flag("logEnviron", true)}, s, nil)
	return nil
}
