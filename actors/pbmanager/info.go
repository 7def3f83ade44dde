package pbmanager

import (
	"maps"
	"slices"
	"strings"

	"github.com/buildmaster/buildmaster/messages"
)

// Bounds on the worker info kept: the info files are short notes (admin,
// host, access_uri), and a worker is trusted only so far.
const (
	maxInfoEntries = 64
	maxInfoValue   = 4 << 10
)

// workerInfo turns a worker's answer to get_worker_info into the
// WorkerInfo its actor keeps: basedir, system, numcpus, version, the names
// of its commands, and every other text entry but environ (which may hold
// secrets), each cut to maxInfoValue, at most maxInfoEntries of them (by
// name). Values of other types are left out.
func workerInfo(m map[string]any, protocol, remote string) *messages.WorkerInfo {
	str := func(k string) string { s, _ := m[k].(string); return bound(s) }
	info := &messages.WorkerInfo{Basedir: str("basedir"), System: str("system"), Version: str("version"),
		Protocol: protocol, Remote: remote, Info: map[string]string{}}
	switch n := m["numcpus"].(type) {
	case int64:
		info.Numcpus = int32(min(max(n, 0), 1<<20))
	case float64:
		info.Numcpus = int32(min(max(n, 0), 1<<20))
	}
	if cmds, ok := m["worker_commands"].(map[string]any); ok {
		info.Commands = slices.Sorted(maps.Keys(cmds))
		if len(info.Commands) > maxInfoEntries {
			info.Commands = info.Commands[:maxInfoEntries]
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch k {
		case "basedir", "system", "version", "numcpus", "worker_commands", "environ", "delete_leftover_dirs":
			continue
		}
		if s, ok := m[k].(string); ok && len(info.Info) < maxInfoEntries {
			info.Info[bound(k)] = strings.TrimRight(bound(s), "\r\n")
		}
	}
	return info
}

// bound cuts s to maxInfoValue bytes of valid UTF-8.
func bound(s string) string {
	if len(s) > maxInfoValue {
		s = s[:maxInfoValue]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
