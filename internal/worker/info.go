package worker

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/buildmaster/buildmaster/messages"
)

// Commands are the command kinds this worker runs (WorkerInfo.commands).
var Commands = []string{"shell", "mkdir", "rmdir", "stat", "glob", "listdir", "rmfile", "upload_file", "download_file"}

// Version is the worker's version as reported to the master: the main
// module's version when the binary knows it, else "devel".
var Version = func() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}()

// Limits on BASEDIR/info: the files are short notes for the master's web
// pages (admin, host, access_uri).
const (
	maxInfoFiles    = 32
	maxInfoFileSize = 16 << 10
)

// workerInfo describes this worker for its login.
func workerInfo(basedir string) *messages.WorkerInfo {
	host, _ := os.Hostname()
	return &messages.WorkerInfo{
		Basedir:  basedir,
		System:   runtime.GOOS,
		Arch:     runtime.GOARCH,
		Numcpus:  int32(runtime.NumCPU()),
		Version:  Version,
		Commands: Commands,
		Info:     infoFiles(filepath.Join(basedir, "info")),
		Hostname: host,
	}
}

// infoFiles reads the regular files in dir, as Buildbot's worker does
// with BASEDIR/info: name → contents, without the trailing newline. A
// missing directory is no info; unreadable or oversized files are left
// out.
func infoFiles(dir string) map[string]string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	info := map[string]string{}
	for _, e := range entries {
		if len(info) == maxInfoFiles {
			break
		}
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(f, maxInfoFileSize+1))
		f.Close()
		if err != nil || len(b) > maxInfoFileSize {
			continue
		}
		// Protobuf strings must be UTF-8.
		info[strings.ToValidUTF8(e.Name(), "?")] = strings.ToValidUTF8(strings.TrimRight(string(b), "\r\n"), "\uFFFD")
	}
	return info
}
