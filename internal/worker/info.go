package worker

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
)

// Commands are the commands this worker runs, under Buildbot's names
// (both spellings of the transfers), with Buildbot's command version.
var Commands = []string{"shell", "mkdir", "rmdir", "cpdir", "stat", "glob", "listdir", "rmfile",
	"upload_file", "uploadFile", "upload_directory", "uploadDirectory", "download_file", "downloadFile"}

// commandVersion is the version each command reports (buildbot-worker
// 3.7's): masters check it before using newer arguments.
const commandVersion = "3.1"

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

// osRelease is where the os_* fields come from, as for Buildbot's worker.
const osRelease = "/etc/os-release"

// workerInfo is this worker's answer to get_worker_info, as Buildbot's
// worker gives it: each file of BASEDIR/info by name, the os_* fields of
// os-release, environ, system (Python's os.name), basedir, numcpus,
// version, worker_commands and delete_leftover_dirs.
func workerInfo(basedir string) map[string]any {
	info := map[string]any{}
	for k, v := range infoFiles(filepath.Join(basedir, "info")) {
		info[k] = v
	}
	for k, v := range osReleaseFields(osRelease) {
		info[k] = v
	}
	env := map[string]any{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	cmds := map[string]any{}
	for _, c := range Commands {
		cmds[c] = commandVersion
	}
	system := "posix"
	if runtime.GOOS == "windows" {
		system = "nt"
	}
	info["environ"] = env
	info["system"] = system
	info["basedir"] = basedir
	info["numcpus"] = int64(runtime.NumCPU())
	info["version"] = Version
	info["worker_commands"] = cmds
	info["delete_leftover_dirs"] = false
	return info
}

// infoFiles reads the regular files in dir, as Buildbot's worker does
// with BASEDIR/info: name → contents. A missing directory is no info;
// unreadable or oversized files are left out.
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
		info[strings.ToValidUTF8(e.Name(), "?")] = strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return info
}

// osReleaseFields reads os-release KEY=value lines as os_key fields,
// quotes stripped; empty values, comments and malformed lines are left
// out.
func osReleaseFields(path string) map[string]string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if v = strings.Trim(v, `"`); ok && v != "" {
			out["os_"+strings.ToLower(k)] = strings.ToValidUTF8(v, "\uFFFD")
		}
	}
	return out
}
