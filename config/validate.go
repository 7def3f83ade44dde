package config

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/messages"
)

// Validate checks a decoded config (normally after ApplyDefaults) and returns
// every problem at once, in file order, each located through src at the key
// that is wrong; src may be nil. It never modifies cfg. An empty config is
// valid: unlike Buildbot, no workers, no builders, and builders that no
// scheduler drives are not errors.
//
// The rules: names are unique per kind and well formed (see nameProblem;
// worker names follow Buildbot's stricter rule); every reference resolves
// (builder → worker, scheduler → builder, trigger step → triggerable
// scheduler, dependent scheduler → upstream scheduler); every step and change
// source sets exactly one kind with its required fields; a scheduler has a
// type, builders, the fields its type needs and no field of another type;
// builddirs are unique; caches are ≥ 1; counts are not negative; durations are
// not negative; listen addresses are host:port and use distinct ports.
func Validate(cfg *messages.MasterConfig, src *Source) Errors {
	return validate(cfg, src, true)
}

// validate is Validate; Load skips the check of every duration, which Parse
// has made already.
func validate(cfg *messages.MasterConfig, src *Source, durations bool) Errors {
	v := &validator{src: src}
	v.listen(cfg.GetListen())
	workers := v.workers(cfg.GetWorkers())
	builders := v.builders(cfg.GetBuilders(), workers)
	schedulers := v.schedulers(cfg.GetSchedulers(), builders)
	for i, b := range cfg.GetBuilders() {
		for k, s := range b.GetSteps() {
			v.step(indexPath(indexPath("builders", i)+".steps", k), s, schedulers)
		}
	}
	v.changeSources(cfg.GetChangeSources())
	for name, size := range cfg.GetCaches() {
		if size < 1 {
			v.errorf(fieldPath("caches", name), "cache %s has size %d; it must be at least 1", quoteName(name), size)
		}
	}
	if r := cfg.GetSupervision().GetMaxRestarts(); r < 0 {
		v.errorf("supervision.max_restarts", "max_restarts is %d; it must not be negative", r)
	}
	if w := cfg.GetSupervision().GetWithin(); w != nil && w.AsDuration() <= 0 {
		v.errorf("supervision.within", "within must be positive")
	}
	if durations && cfg != nil {
		v.durations(cfg.ProtoReflect(), "")
	}
	v.errs.sort()
	return v.errs
}

type validator struct {
	src  *Source
	errs Errors
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errs = append(v.errs, v.src.Errorf(path, format, args...))
}

// unique records name at path in seen, and reports a duplicate of kind.
func (v *validator) unique(seen map[string]string, kind, name, path string) bool {
	if first, dup := seen[name]; dup {
		v.errorf(path, "duplicate %s name %s (first at %s)", kind, quoteName(name), v.where(first))
		return false
	}
	seen[name] = path
	return true
}

// name checks a name with problem (nameProblem or a stricter rule) and its
// uniqueness; it reports whether the name is usable for references.
func (v *validator) name(seen map[string]string, kind, name, path string, problem func(string) string) bool {
	if p := problem(name); p != "" {
		v.errorf(path, "%s name %s %s", kind, quoteName(name), p)
		return false
	}
	return v.unique(seen, kind, name, path)
}

func (v *validator) listen(l *messages.ListenConfig) {
	keys := [...]struct{ key, addr string }{
		{"listen.remote", l.GetRemote()}, {"listen.www", l.GetWww()}, {"listen.debug", l.GetDebug()},
	}
	var addrs [len(keys)]listenAddr
	for i, k := range keys {
		if k.addr == "" {
			continue // the default
		}
		a, problem := parseListen(k.addr)
		if problem != "" {
			v.errorf(k.key, "%s %q %s", k.key, k.addr, problem)
			continue
		}
		addrs[i] = a
		for j := range i {
			if addrs[j].port == 0 || !addrs[j].collides(a) {
				continue
			}
			msg := fmt.Sprintf("%s and %s both use port %d", keys[j].key, k.key, a.port)
			if at := keys[j].key; v.src.written(at) && !v.src.written(k.key) {
				// Point at the key the operator wrote, not at the default.
				v.errorf(at, "%s (%s is %s by default)", msg, k.key, k.addr)
			} else {
				v.errorf(k.key, "%s", msg)
			}
		}
	}
}

// workers checks the workers and returns the index of each valid name.
func (v *validator) workers(ws []*messages.WorkerConfig) map[string]string {
	seen := make(map[string]string, len(ws))
	for i, w := range ws {
		path := indexPath("workers", i)
		v.name(seen, "worker", w.GetName(), path+".name", workerNameProblem)
		if w.GetMaxBuilds() < 0 {
			v.errorf(path+".max_builds", "max_builds is %d; it must not be negative (0 means no limit)", w.GetMaxBuilds())
		}
	}
	return seen
}

// builders checks the builders (except their steps) against the workers and
// returns the path of each builder name.
func (v *validator) builders(bs []*messages.BuilderConfig, workers map[string]string) map[string]string {
	seen := make(map[string]string, len(bs))
	builddirs := make(map[string]int, len(bs)) // builddir → index of its builder
	for i, b := range bs {
		path := indexPath("builders", i)
		name := b.GetName()
		ok := v.name(seen, "builder", name, path+".name", builderNameProblem)
		if dir := b.GetBuilddir(); ok && dir != "" {
			if first, dup := builddirs[dir]; dup {
				v.errorf(path+".builddir", "builder %s has the same builddir %q as builder %s (%s)",
					quoteName(name), dir, quoteName(bs[first].GetName()), v.where(indexPath("builders", first)+".builddir"))
			} else {
				builddirs[dir] = i
			}
		}
		if len(b.GetWorkers()) == 0 {
			v.errorf(path+".workers", "builder %s has no workers", quoteName(name))
		}
		ws := b.GetWorkers()
		for j, w := range ws {
			if _, known := workers[w]; !known {
				v.errorf(indexPath(path+".workers", j), "builder %s uses unknown worker %s", quoteName(name), quoteName(w))
			} else if first := slices.Index(ws[:j], w); first >= 0 {
				v.errorf(indexPath(path+".workers", j), "builder %s lists worker %s twice (first at %s)",
					quoteName(name), quoteName(w), v.where(indexPath(path+".workers", first)))
			}
		}
	}
	return seen
}

// schedulerOnly lists the fields that only some scheduler types take.
var schedulerOnly = []struct {
	field protoreflect.Name
	types []messages.SchedulerType
}{
	{"branch", []messages.SchedulerType{messages.SchedulerType_SCHEDULER_TYPE_SINGLE_BRANCH}},
	{"branches", []messages.SchedulerType{messages.SchedulerType_SCHEDULER_TYPE_ANY_BRANCH}},
	{"tree_stable_timer", []messages.SchedulerType{messages.SchedulerType_SCHEDULER_TYPE_SINGLE_BRANCH, messages.SchedulerType_SCHEDULER_TYPE_ANY_BRANCH}},
	{"file_is_important", []messages.SchedulerType{messages.SchedulerType_SCHEDULER_TYPE_SINGLE_BRANCH, messages.SchedulerType_SCHEDULER_TYPE_ANY_BRANCH}},
	{"periodic_interval", []messages.SchedulerType{messages.SchedulerType_SCHEDULER_TYPE_PERIODIC}},
	{"cron", []messages.SchedulerType{messages.SchedulerType_SCHEDULER_TYPE_NIGHTLY}},
	{"upstream", []messages.SchedulerType{messages.SchedulerType_SCHEDULER_TYPE_DEPENDENT}},
}

// schedulers checks the schedulers against the builders and returns the type
// of each scheduler by name.
func (v *validator) schedulers(ss []*messages.SchedulerConfig, builders map[string]string) map[string]messages.SchedulerType {
	seen := make(map[string]string, len(ss))
	types := make(map[string]messages.SchedulerType, len(ss))
	for i, s := range ss {
		path := indexPath("schedulers", i)
		if v.name(seen, "scheduler", s.GetName(), path+".name", nameProblem) {
			types[s.GetName()] = s.GetType()
		}
	}
	for i, s := range ss {
		path := indexPath("schedulers", i)
		name, typ := quoteName(s.GetName()), s.GetType()
		if typ == messages.SchedulerType_SCHEDULER_TYPE_UNSPECIFIED {
			v.errorf(path+".type", "scheduler %s has no type; set one of %s", name,
				strings.Join(enumNames(typ.Descriptor()), ", "))
		} else if typ.Descriptor().Values().ByNumber(typ.Number()) == nil {
			v.errorf(path+".type", "scheduler %s has unknown type %d", name, typ)
		}
		if len(s.GetBuilders()) == 0 {
			v.errorf(path+".builders", "scheduler %s has no builders", name)
		}
		for j, b := range s.GetBuilders() {
			if _, ok := builders[b]; !ok {
				v.errorf(indexPath(path+".builders", j), "unknown builder %s in scheduler %s", quoteName(b), name)
			}
		}
		if typ != messages.SchedulerType_SCHEDULER_TYPE_UNSPECIFIED {
			m := s.ProtoReflect()
			for _, only := range schedulerOnly {
				fd := m.Descriptor().Fields().ByName(only.field)
				if m.Has(fd) && !slices.Contains(only.types, typ) {
					names := make([]string, len(only.types))
					for k, t := range only.types {
						names[k] = enumName(t)
					}
					v.errorf(path+"."+string(only.field), "%s is only for %s schedulers; scheduler %s has type %s",
						only.field, strings.Join(names, " and "), name, enumName(typ))
				}
			}
		}
		switch typ {
		case messages.SchedulerType_SCHEDULER_TYPE_PERIODIC:
			if s.GetPeriodicInterval().AsDuration() <= 0 {
				v.errorf(path+".periodic_interval", "periodic scheduler %s needs a positive periodic_interval", name)
			}
		case messages.SchedulerType_SCHEDULER_TYPE_NIGHTLY:
			if s.GetCron() == "" {
				v.errorf(path+".cron", "nightly scheduler %s needs cron (minute hour day-of-month month day-of-week)", name)
			} else if err := checkCron(s.GetCron()); err != nil {
				v.errorf(path+".cron", "invalid cron %q: %v", s.GetCron(), err)
			}
		case messages.SchedulerType_SCHEDULER_TYPE_DEPENDENT:
			switch up := s.GetUpstream(); {
			case up == "":
				v.errorf(path+".upstream", "dependent scheduler %s needs upstream", name)
			case up == s.GetName():
				v.errorf(path+".upstream", "scheduler %s cannot be its own upstream", name)
			default:
				if _, ok := types[up]; !ok {
					v.errorf(path+".upstream", "upstream %s of scheduler %s is not a configured scheduler", quoteName(up), name)
				}
			}
		}
	}
	return types
}

// step checks one build step; schedulers gives the type of each scheduler.
func (v *validator) step(path string, s *messages.StepConfig, schedulers map[string]messages.SchedulerType) {
	switch k := s.GetKind().(type) {
	case nil:
		v.errorf(path, "step has no kind; set one of %s", oneofNames(s.ProtoReflect().Descriptor().Oneofs().ByName("kind")))
	case *messages.StepConfig_Shell:
		switch cmd, script := len(k.Shell.GetCommand()) > 0, k.Shell.GetScript() != ""; {
		case !cmd && !script:
			v.errorf(path+".shell.command", "shell step needs command (a list of arguments) or script")
		case cmd && script:
			v.errorf(path+".shell.script", "shell step sets both command and script; keep one")
		}
	case *messages.StepConfig_Git:
		if k.Git.GetRepoUrl() == "" {
			v.errorf(path+".git.repo_url", "git step needs repo_url")
		}
		if m := k.Git.GetMode(); m != "" && m != "full" && m != "incremental" {
			v.errorf(path+".git.mode", "git step mode %q is not full or incremental", m)
		}
	case *messages.StepConfig_SetProperty:
		if k.SetProperty.GetProperty() == "" {
			v.errorf(path+".set_property.property", "set_property step needs property")
		}
	case *messages.StepConfig_Trigger:
		if len(k.Trigger.GetSchedulers()) == 0 {
			v.errorf(path+".trigger.schedulers", "trigger step names no schedulers")
		}
		for j, name := range k.Trigger.GetSchedulers() {
			spath := indexPath(path+".trigger.schedulers", j)
			switch typ, ok := schedulers[name]; {
			case !ok:
				v.errorf(spath, "trigger step names unknown scheduler %s", quoteName(name))
			case typ != messages.SchedulerType_SCHEDULER_TYPE_TRIGGERABLE:
				v.errorf(spath, "trigger step names scheduler %s, which is not a triggerable scheduler", quoteName(name))
			}
		}
	}
}

func (v *validator) changeSources(cs []*messages.ChangeSourceConfig) {
	seen := make(map[string]string, len(cs))
	for i, c := range cs {
		path := indexPath("change_sources", i)
		name := quoteName(c.GetName())
		v.name(seen, "change source", c.GetName(), path+".name", nameProblem)
		switch k := c.GetKind().(type) {
		case nil:
			v.errorf(path, "change source %s has no kind; set one of %s", name,
				oneofNames(c.ProtoReflect().Descriptor().Oneofs().ByName("kind")))
		case *messages.ChangeSourceConfig_GitPoller:
			if k.GitPoller.GetRepoUrl() == "" {
				v.errorf(path+".git_poller.repo_url", "git_poller %s needs repo_url", name)
			}
		case *messages.ChangeSourceConfig_ChangeHook:
			if d := k.ChangeHook.GetDialect(); d != "base" && d != "github" {
				v.errorf(path+".change_hook.dialect", "change_hook dialect %q is not base or github", d)
			}
		}
	}
}

// durations reports every negative or out-of-range Duration in m, which is
// at path. Parse never produces one; a config that arrives as a message can.
func (v *validator) durations(m protoreflect.Message, path string) {
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		fpath := fieldPath(path, string(fd.Name()))
		switch {
		case fd.IsMap():
			if isMessage(fd.MapValue()) {
				val.Map().Range(func(k protoreflect.MapKey, e protoreflect.Value) bool {
					v.durations(e.Message(), fieldPath(fpath, k.String()))
					return true
				})
			}
		case fd.IsList():
			for i := range val.List().Len() {
				v.durations(val.List().Get(i).Message(), indexPath(fpath, i))
			}
		case fd.Message().FullName() == durationName:
			d, ok := val.Message().Interface().(*durationpb.Duration)
			if ok && (d.CheckValid() != nil || d.AsDuration() < 0) {
				v.errorf(fpath, "duration %s is negative or out of range", d.AsDuration())
			}
		default:
			v.durations(val.Message(), fpath)
		}
		return true
	})
}

// where describes the place of path for "first at …": its line if known.
func (v *validator) where(path string) string {
	if line, _ := v.src.Pos(path); line > 0 {
		return fmt.Sprintf("line %d", line)
	}
	return path
}
