package msgpack

import (
	"fmt"
	"maps"
	"strings"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// wireNames maps RemoteCommand's names of the transfers to msgpack's.
var wireNames = map[string]string{
	"uploadFile":      "upload_file",
	"uploadDirectory": "upload_directory",
	"downloadFile":    "download_file",
}

// prepare turns a wire.Command into the command kept while it runs and
// the args sent with start_command, as Buildbot's master does: the
// builder-relative paths of RemoteCommand's args (dir, fromdir/todir,
// file, path, workdir, workersrc/workerdest) are joined to the builder's
// directory on the worker, mkdir and rmdir get paths, and want_stdout and
// want_stderr become booleans. Args that already have the worker's form
// (paths, from_path, an absolute path) pass unchanged, and so does
// everything when Builder is "".
func (c *serverConn) prepare(wc wire.Command) (*command, map[string]any, error) {
	if wc.ID == "" || wc.Name == "" {
		return nil, nil, fmt.Errorf("a command needs an ID and a Name")
	}
	cmd := &command{id: wc.ID, name: wc.Name, sink: wc.Sink, max: -1}
	if n, ok := wireNames[wc.Name]; ok {
		cmd.name = n
	}
	args := maps.Clone(wc.Args)
	if args == nil {
		args = map[string]any{}
	}
	delete(args, "reader")
	delete(args, "writer")
	for _, k := range []string{"want_stdout", "want_stderr"} {
		if v, ok := args[k]; ok {
			args[k] = v == true || v == 1 || v == int64(1)
		}
	}
	if wc.Builder != "" {
		c.mu.Lock()
		base, ok := c.builders[wc.Builder]
		pm := pathModuleOf(c.info)
		c.mu.Unlock()
		if !ok {
			return nil, nil, fmt.Errorf("builder %q is not in the worker's builder list", wc.Builder)
		}
		if err := pm.resolve(cmd.name, args, base); err != nil {
			return nil, nil, err
		}
	}
	if err := cmd.transfer(args); err != nil {
		return nil, nil, err
	}
	return cmd, args, nil
}

// transfer checks a transfer's Sink and sizes and fills the optional
// args Buildbot's worker reads unconditionally.
func (cmd *command) transfer(args map[string]any) error {
	var defaults []string
	switch cmd.name {
	case "upload_file", "upload_directory":
		up, ok := cmd.sink.(wire.Uploader)
		if !ok {
			return fmt.Errorf("%s needs a wire.Uploader Sink, got %T", cmd.name, cmd.sink)
		}
		cmd.up = up
		defaults = []string{"maxsize", "compress"}
	case "download_file":
		down, ok := cmd.sink.(wire.Downloader)
		if !ok {
			return fmt.Errorf("%s needs a wire.Downloader Sink, got %T", cmd.name, cmd.sink)
		}
		cmd.down = down
		defaults = []string{"maxsize", "mode"}
	default:
		return nil
	}
	for _, k := range defaults {
		if _, ok := args[k]; !ok {
			args[k] = nil
		}
	}
	block, ok := toInt(args["blocksize"])
	if !ok || block <= 0 {
		return fmt.Errorf("%s: blocksize is %v, want a positive integer", cmd.name, args["blocksize"])
	}
	cmd.block = block
	if v := args["maxsize"]; v != nil {
		m, ok := toInt(v)
		if !ok || m < 0 {
			return fmt.Errorf("%s: maxsize is %v, want a non-negative integer or nil", cmd.name, v)
		}
		if cmd.up != nil {
			cmd.max = m
			cmd.block = min(block, max(m, 1))
		}
	}
	return nil
}

// toInt takes the integer types a caller may put in Args.
func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	}
	return 0, false
}

// pathModule joins paths as Python's os.path of the worker's system does.
type pathModule struct {
	sep   string
	home  string // for a leading ~ (Buildbot's expanduser, from the worker's environ)
	isAbs func(string) bool
}

func pathModuleOf(info map[string]any) pathModule {
	env, _ := info["environ"].(map[string]any)
	if info["system"] == "nt" {
		home, _ := env["USERPROFILE"].(string)
		return pathModule{sep: `\`, home: home, isAbs: func(p string) bool {
			return strings.HasPrefix(p, `\`) || strings.HasPrefix(p, "/") || len(p) >= 2 && p[1] == ':'
		}}
	}
	home, _ := env["HOME"].(string)
	return pathModule{sep: "/", home: home, isAbs: func(p string) bool { return strings.HasPrefix(p, "/") }}
}

func (pm pathModule) join(base string, parts ...string) string {
	p := base
	for _, q := range parts {
		switch {
		case pm.isAbs(q):
			p = q
		case p == "" || strings.HasSuffix(p, pm.sep):
			p += q
		default:
			p += pm.sep + q
		}
	}
	return p
}

func (pm pathModule) expandUser(p string) string {
	if pm.home == "" || !strings.HasPrefix(p, "~") {
		return p
	}
	if p == "~" || strings.HasPrefix(p, "~"+pm.sep) || strings.HasPrefix(p, "~/") {
		return strings.TrimRight(pm.home, pm.sep) + p[1:]
	}
	return p
}

// resolve rewrites args in place for command name on a builder whose
// directory is base.
func (pm pathModule) resolve(name string, args map[string]any, base string) error {
	str := func(k string) (string, bool, error) {
		v, ok := args[k]
		if !ok {
			return "", false, nil
		}
		s, isStr := v.(string)
		if !isStr {
			return "", true, fmt.Errorf("%s: %s is a %T, want a str", name, k, v)
		}
		return s, true, nil
	}
	move := func(from, to string, parts func(string) []string) error {
		s, ok, err := str(from)
		if err != nil || !ok {
			return err
		}
		args[to] = pm.join(base, parts(s)...)
		if from != to {
			delete(args, from)
		}
		return nil
	}
	one := func(s string) []string { return []string{s} }
	switch name {
	case "mkdir", "rmdir":
		v, ok := args["dir"]
		if !ok {
			return nil
		}
		var dirs []string
		switch x := v.(type) {
		case string:
			dirs = []string{x}
		case []string:
			dirs = x
		case []any:
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("%s: dir holds a %T, want str", name, e)
				}
				dirs = append(dirs, s)
			}
		default:
			return fmt.Errorf("%s: dir is a %T, want a str or a list of str", name, v)
		}
		paths := make([]any, len(dirs))
		for i, d := range dirs {
			paths[i] = pm.join(base, d)
		}
		args["paths"] = paths
		delete(args, "dir")
	case "cpdir":
		if err := move("fromdir", "from_path", one); err != nil {
			return err
		}
		return move("todir", "to_path", one)
	case "stat":
		workdir, _, err := str("workdir")
		if err != nil {
			return err
		}
		return move("file", "path", func(s string) []string { return []string{workdir, s} })
	case "glob", "rmfile":
		return move("path", "path", one)
	case "listdir":
		return move("dir", "path", one)
	case "shell":
		return move("workdir", "workdir", one)
	case "upload_file", "upload_directory", "download_file":
		src := "workersrc"
		if name == "download_file" {
			src = "workerdest"
		}
		workdir, _, err := str("workdir")
		if err != nil {
			return err
		}
		s, ok, err := str(src)
		if err != nil || !ok {
			return err
		}
		args["path"] = pm.join(base, workdir, pm.expandUser(s))
	}
	return nil
}
