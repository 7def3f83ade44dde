package botmaster

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/filetransfer"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// Buildbot's default blocksizes: FileUpload's, and every other transfer's.
const (
	uploadBlocksize   = 256 << 10
	transferBlocksize = 16 << 10
)

// transfer runs a file-transfer step (Buildbot's FileUpload,
// DirectoryUpload, FileDownload, StringDownload, MakeDirectory,
// RemoveDirectory): one command on the worker. Paths on the worker are
// relative to the step's workdir (make_directory and remove_directory: to
// the builder's directory); an upload lands under uploads_dir, never
// outside it. What the master cannot do (a destination that would leave
// uploads_dir, a mastersrc it cannot read) fails the step with the reason
// in its log, as Buildbot's FileDownload does for a missing file.
func (r *runner) transfer(log *stepLog, s *messages.StepConfig) (int32, error) {
	var content string // a string_download's, rendered: it may hold secrets (a .netrc)
	if d := s.GetStringDownload(); d != nil {
		var err error
		if content, err = r.render(d.GetS()); err != nil {
			return r.cannotRender(log, err)
		}
	}
	cmd, problem := r.transferCommand(s, content)
	if problem != "" {
		return state.ResultFailure, log.header(problem)
	}
	c, _, err := r.command(log, cmd)
	if err != nil {
		return 0, err
	}
	return commandResults(c, nil), nil
}

// transferCommand is the command of a transfer step, or why the master
// cannot run it; content is a string_download's text, rendered.
func (r *runner) transferCommand(s *messages.StepConfig, content string) (*messages.StartCommand, string) {
	ip := r.props.interpolate
	block := func(b, def int64) int64 {
		if b > 0 {
			return b
		}
		return def
	}
	switch k := s.GetKind().(type) {
	case *messages.StepConfig_FileUpload:
		u := k.FileUpload
		root, dest, problem := r.uploadDest(ip(u.GetMasterdest()))
		if problem != "" {
			return nil, problem
		}
		return &messages.StartCommand{Command: &messages.StartCommand_UploadFile{UploadFile: &messages.UploadFileCommand{
			Workdir: r.workdir(u.GetWorkdir()), Workersrc: ip(u.GetWorkersrc()), Blocksize: block(u.GetBlocksize(), uploadBlocksize),
			Maxsize: u.Maxsize, Keepstamp: u.GetKeepstamp(), UploadsRoot: root, Masterdest: dest, Mode: u.Mode}}}, ""
	case *messages.StepConfig_DirectoryUpload:
		u := k.DirectoryUpload
		root, dest, problem := r.uploadDest(ip(u.GetMasterdest()))
		if problem != "" {
			return nil, problem
		}
		return &messages.StartCommand{Command: &messages.StartCommand_UploadDirectory{UploadDirectory: &messages.UploadDirectoryCommand{
			Workdir: r.workdir(u.GetWorkdir()), Workersrc: ip(u.GetWorkersrc()), Blocksize: block(u.GetBlocksize(), transferBlocksize),
			Maxsize: u.Maxsize, Compress: u.GetCompress(), UploadsRoot: root, Masterdest: dest}}}, ""
	case *messages.StepConfig_FileDownload:
		d := k.FileDownload
		src := ip(d.GetMastersrc())
		if !filepath.IsAbs(src) {
			if r.rt.DataDir == "" {
				return nil, fmt.Sprintf("File %q not available at master: a relative mastersrc is relative to the data directory, and this master has none (--ephemeral)", src)
			}
			src = filepath.Join(r.rt.DataDir, src)
		}
		if st, err := os.Stat(src); err != nil || st.IsDir() {
			return nil, fmt.Sprintf("File %q not available at master", src)
		}
		return &messages.StartCommand{Command: &messages.StartCommand_DownloadFile{DownloadFile: &messages.DownloadFileCommand{
			Workdir: r.workdir(d.GetWorkdir()), Workerdest: ip(d.GetWorkerdest()), Blocksize: block(d.GetBlocksize(), transferBlocksize),
			Maxsize: d.Maxsize, Mode: d.Mode, Source: &messages.DownloadFileCommand_MasterPath{MasterPath: src}}}}, ""
	case *messages.StepConfig_StringDownload:
		d := k.StringDownload
		return &messages.StartCommand{Command: &messages.StartCommand_DownloadFile{DownloadFile: &messages.DownloadFileCommand{
			Workdir: r.workdir(d.GetWorkdir()), Workerdest: ip(d.GetWorkerdest()), Blocksize: block(d.GetBlocksize(), transferBlocksize),
			Maxsize: d.Maxsize, Mode: d.Mode, Source: &messages.DownloadFileCommand_Data{Data: []byte(content)}}}}, ""
	case *messages.StepConfig_MakeDirectory:
		return &messages.StartCommand{Command: &messages.StartCommand_Mkdir{Mkdir: &messages.PathsCommand{
			Paths: []string{ip(k.MakeDirectory.GetDir())}}}}, ""
	case *messages.StepConfig_RemoveDirectory:
		return &messages.StartCommand{Command: &messages.StartCommand_Rmdir{Rmdir: &messages.PathsCommand{
			Paths: []string{ip(k.RemoveDirectory.GetDir())}}}}, ""
	}
	return nil, fmt.Sprintf("%T is not a transfer step", s.GetKind())
}

// uploadDest checks an upload's masterdest (properties interpolated) and
// returns the uploads directory (absolute) and the destination under it,
// or why not.
func (r *runner) uploadDest(dest string) (root, rel, problem string) {
	if err := filetransfer.CheckRelative(dest); err != nil {
		return "", "", fmt.Sprintf("masterdest %q %s: uploads stay under uploads_dir", dest, err)
	}
	root = r.rt.Config().GetUploadsDir()
	if root == "" {
		root = config.DefaultUploadsDir
	}
	if !filepath.IsAbs(root) {
		if r.rt.DataDir == "" {
			return "", "", "uploads_dir " + root + " is relative to the data directory, and this master has none (--ephemeral): set an absolute uploads_dir"
		}
		abs, err := filepath.Abs(filepath.Join(r.rt.DataDir, root))
		if err != nil {
			return "", "", fmt.Sprintf("uploads_dir: %v", err)
		}
		root = abs
	}
	return root, dest, ""
}
