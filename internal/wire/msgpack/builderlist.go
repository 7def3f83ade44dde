package msgpack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sync"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// SetBuilderList does what Buildbot's master does for a msgpack worker
// (which has no builder list of its own): listdir the worker's basedir;
// when the worker asks for delete_leftover_dirs, stat every entry that is
// not a builder's directory and rmdir the directories among them; mkdir
// the missing builder directories and info. The builders' directories are
// then known for the paths of later commands. Each of these commands must
// end with rc 0.
func (c *serverConn) SetBuilderList(ctx context.Context, builders map[string]string) error {
	c.mu.Lock()
	info := c.info
	c.mu.Unlock()
	basedir, ok := info["basedir"].(string)
	if !ok {
		return errors.New("set builder list: the worker's info has no basedir")
	}
	pm := pathModuleOf(info)
	wanted := map[string]bool{"info": true}
	for _, dir := range builders {
		wanted[dir] = true
	}
	missing := slices.Collect(maps.Keys(wanted))

	got, err := c.setup(ctx, "listdir", map[string]any{"path": basedir}, "files")
	if err != nil {
		return err
	}
	files, _ := got.([]any)
	var leftovers []any
	for _, f := range files {
		name, _ := f.(string)
		missing = slices.DeleteFunc(missing, func(d string) bool { return d == name })
		if wanted[name] || !truthy(info["delete_leftover_dirs"]) {
			continue
		}
		path := pm.join(basedir, name)
		st, err := c.setup(ctx, "stat", map[string]any{"path": path}, "stat")
		if err != nil {
			return err
		}
		if mode, ok := statMode(st); ok && fs.FileMode(mode&0o170000) == 0o040000 {
			leftovers = append(leftovers, path)
		}
	}
	if len(leftovers) > 0 {
		c.log.Info("deleting directories no builder uses", "paths", leftovers)
		if _, err := c.setup(ctx, "rmdir", map[string]any{"paths": leftovers}, ""); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		paths := make([]any, len(missing))
		for i, d := range missing {
			paths[i] = pm.join(basedir, d)
		}
		if _, err := c.setup(ctx, "mkdir", map[string]any{"paths": paths}, ""); err != nil {
			return err
		}
	}
	dirs := make(map[string]string, len(builders))
	for name, dir := range builders {
		dirs[name] = pm.join(basedir, dir)
	}
	c.mu.Lock()
	c.builders = dirs
	c.mu.Unlock()
	return nil
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case int64:
		return x != 0
	}
	return false
}

func statMode(v any) (int64, bool) {
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return 0, false
	}
	return asInt(l[0])
}

// setup runs one command of SetBuilderList and returns the value of its
// key want (the first one sent, as Buildbot keeps it).
func (c *serverConn) setup(ctx context.Context, name string, args map[string]any, want string) (any, error) {
	s := &collect{first: map[string]wire.Update{}, done: make(chan struct{})}
	id := fmt.Sprintf("setup-%d", c.setupSeq.Add(1))
	if err := c.StartCommand(ctx, wire.Command{ID: id, Name: name, Args: args, Sink: s}); err != nil {
		return nil, fmt.Errorf("set builder list: %w", err)
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("set builder list: %s: %w", name, ctx.Err())
	}
	if s.err != nil {
		return nil, fmt.Errorf("set builder list: %s: %w", name, s.err)
	}
	rc, ok := s.first["rc"]
	switch {
	case !ok:
		return nil, fmt.Errorf("set builder list: %s: 'rc' did not arrive", name)
	case rc.Int != 0:
		return nil, fmt.Errorf("set builder list: %s: Error number: %d", name, rc.Int)
	}
	if want == "" {
		return nil, nil
	}
	u, ok := s.first[want]
	if !ok {
		return nil, fmt.Errorf("set builder list: %s: key '%s' is missing", name, want)
	}
	return u.Value, nil
}

// collect is the Sink of a setup command.
type collect struct {
	mu    sync.Mutex
	first map[string]wire.Update
	err   error
	done  chan struct{}
}

func (s *collect) Update(us []wire.Update) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range us {
		if _, ok := s.first[u.Key]; !ok {
			s.first[u.Key] = u
		}
	}
}

func (s *collect) Complete(err error) {
	s.err = err
	close(s.done)
}
