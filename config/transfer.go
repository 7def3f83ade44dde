package config

import (
	"strings"

	"github.com/buildmaster/buildmaster/internal/filetransfer"
	"github.com/buildmaster/buildmaster/messages"
)

// MaxBlocksize bounds a transfer step's blocksize: one block is one message
// of the worker protocol, which a worker must not be asked to make larger.
const MaxBlocksize = 4 << 20

// transferStep checks the file-transfer steps (file_upload,
// directory_upload, file_download, string_download, make_directory,
// remove_directory); path gives the key path of a field of the step.
func (v *validator) transferStep(s *messages.StepConfig, path func(string) string) {
	// required reports an empty field of a step of kind.
	required := func(key, value string) {
		if value == "" {
			kind, field, _ := strings.Cut(strings.TrimPrefix(key, "."), ".")
			v.errorf(path(key), "%s step needs %s", kind, field)
		}
	}
	sizes := func(kind string, maxsize *int64, blocksize int64, mode *uint32) {
		if maxsize != nil && *maxsize < 0 {
			v.errorf(path("."+kind+".maxsize"), "maxsize is %d; it must not be negative", *maxsize)
		}
		if blocksize < 0 || blocksize > MaxBlocksize {
			v.errorf(path("."+kind+".blocksize"), "blocksize is %d; it must be from 1 to %d (0: the default)", blocksize, MaxBlocksize)
		}
		if mode != nil && *mode > 0o7777 {
			v.errorf(path("."+kind+".mode"), "mode is %#o; it must be at most 07777 (write it in octal: 0644)", *mode)
		}
	}
	masterdest := func(key, dest string) {
		required(key, dest)
		if dest == "" || strings.Contains(dest, "%(") {
			return // interpolated: checked when the step runs
		}
		if err := filetransfer.CheckRelative(dest); err != nil {
			v.errorf(path(key), "masterdest %q %s: uploads stay under uploads_dir", dest, err)
		}
	}
	switch k := s.GetKind().(type) {
	case *messages.StepConfig_FileUpload:
		u := k.FileUpload
		required(".file_upload.workersrc", u.GetWorkersrc())
		masterdest(".file_upload.masterdest", u.GetMasterdest())
		sizes("file_upload", u.Maxsize, u.GetBlocksize(), u.Mode)
	case *messages.StepConfig_DirectoryUpload:
		u := k.DirectoryUpload
		required(".directory_upload.workersrc", u.GetWorkersrc())
		masterdest(".directory_upload.masterdest", u.GetMasterdest())
		sizes("directory_upload", u.Maxsize, u.GetBlocksize(), nil)
		if c := u.GetCompress(); c != "" && c != "gz" && c != "bz2" {
			v.errorf(path(".directory_upload.compress"), "compress %q is not gz or bz2 (or empty, for none)", c)
		}
	case *messages.StepConfig_FileDownload:
		d := k.FileDownload
		required(".file_download.mastersrc", d.GetMastersrc())
		required(".file_download.workerdest", d.GetWorkerdest())
		sizes("file_download", d.Maxsize, d.GetBlocksize(), d.Mode)
	case *messages.StepConfig_StringDownload:
		d := k.StringDownload
		required(".string_download.workerdest", d.GetWorkerdest())
		sizes("string_download", d.Maxsize, d.GetBlocksize(), d.Mode)
	case *messages.StepConfig_MakeDirectory:
		required(".make_directory.dir", k.MakeDirectory.GetDir())
	case *messages.StepConfig_RemoveDirectory:
		required(".remove_directory.dir", k.RemoveDirectory.GetDir())
	}
}
