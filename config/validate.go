package config

import (
	"fmt"
	"maps"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/internal/report/setup"
	"github.com/buildmaster/buildmaster/internal/secrets"
	"github.com/buildmaster/buildmaster/messages"
)

// Validate checks a decoded config (normally after ApplyDefaults) and returns
// every problem at once, sorted in file order, each located through src at
// the key that is wrong; src may be nil (errors then have paths but no
// lines). It never modifies cfg. The rules:
//
//   - Names of workers, builders, schedulers and change sources are unique in
//     their kind, non-empty, valid UTF-8 of at most 100 characters, and hold
//     no "/", ":", whitespace or control character. Worker names also match
//     ^[A-Za-z_-][A-Za-z0-9_.-]*$, are at most 50 characters and are not
//     debug, change or status; builder names do not start with "_".
//   - A builder lists at least one worker, each configured and listed once;
//     builddirs are unique. It takes configured locks, each once, with an
//     access mode.
//   - A lock has a unique, non-empty name and a type; max_count, when set,
//     is at least 1.
//   - A scheduler has a type and at least one builder, each configured; it
//     sets no field of another type (cron on a force scheduler); periodic
//     needs a positive periodic_interval, nightly a valid 5-field cron,
//     dependent an upstream that is another configured scheduler.
//   - A step's name is at most 50 bytes. A step sets one kind: shell with
//     command or script (not both) and decode_rc mapping to results, git
//     with repo_url (mode full or incremental), set_property with property,
//     trigger naming triggerable schedulers. The %(secret:NAME)s
//     references of what steps render (a shell step's script, command and
//     env, the builder's env, a git step's repo_url and branch, a
//     string_download's s) are well formed; a set_property value holds
//     none.
//   - A file-transfer step names what it moves (workersrc, masterdest,
//     mastersrc, workerdest, dir); an upload's masterdest is relative and
//     stays under uploads_dir (no "..", checked again when interpolated);
//     blocksize is at most MaxBlocksize, mode at most 07777, compress gz or
//     bz2.
//   - A change source sets one kind: git_poller with repo_url, change_hook
//     with dialect base or github.
//   - horizons: logs and builds at least 1h, interval at least 1m,
//     builds_per_builder and changes not negative, batch 0…1000.
//   - Cache sizes are at least 1, and so are http's sizes when set;
//     max_builds and max_restarts are not negative; a worker's
//     keepalive_interval is at least 1s; supervision.within and http's
//     timeouts are positive; no duration is negative.
//   - A secret provider has a type (dir with a path, env, vault with an
//     http(s) url). www.auth: userpass users have a username (once) and a
//     password; htpasswd has a file; remote_user has trusted proxies
//     (addresses or networks); oauth2 has its URLs and a client_id. Role
//     matchers say where roles come from (and, but for groups, which
//     role); allow rules have an endpoint, a role and valid patterns.
//   - listen.* addresses are host:port with a host and a port 0–65535, on
//     distinct ports (0.0.0.0 or :: collides with any host on its port);
//     port 0 has the system pick a free port, which the master prints.
//     listen.workers_tls sets both cert_file and key_file, or neither.
//
// Deliberately unlike Buildbot, a config without workers, without builders,
// or with builders that no scheduler drives is valid: an empty master is.
func Validate(cfg *messages.MasterConfig, src *Source) Errors {
	return validate(cfg, src, true)
}

// validate is Validate; Load skips the check of every duration, which Parse
// has made already. Paths are only built for errors: a valid config of
// thousands of builders costs no string.
func validate(cfg *messages.MasterConfig, src *Source, durations bool) Errors {
	v := &validator{src: src}
	v.listen(cfg.GetListen())
	workers := v.workers(cfg.GetWorkers())
	locks := v.locks(cfg.GetLocks())
	builders := v.builders(cfg.GetBuilders(), workers)
	v.builderLocks(cfg.GetBuilders(), locks)
	schedulers := v.schedulers(cfg.GetSchedulers(), builders)
	for i, b := range cfg.GetBuilders() {
		for _, name := range slices.Sorted(maps.Keys(b.GetEnv())) {
			v.secretRefs(fieldPath(at("builders", i, ".env"), name), b.GetEnv()[name])
		}
		for k, s := range b.GetSteps() {
			v.step(i, k, s, schedulers)
		}
	}
	v.changeSources(cfg.GetChangeSources())
	v.reporters(cfg.GetReporters())
	for name, size := range cfg.GetCaches() {
		if size < 1 {
			v.errorf(fieldPath("caches", name), "cache %s has size %d; it must be at least 1", quoteName(name), size)
		}
	}
	v.http(cfg.GetHttp())
	v.horizons(cfg.GetHorizons())
	v.secretsAndWww(cfg)
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

// where describes the place of path for "first at …": its line if known.
func (v *validator) where(path string) string {
	if line, _ := v.src.Pos(path); line > 0 {
		return fmt.Sprintf("line %d", line)
	}
	return path
}

// at returns the path of element i of the top-level list, plus rest.
func at(list string, i int, rest string) string { return indexPath(list, i) + rest }

// name checks the name of element i of list with problem (nameProblem or a
// stricter rule), and its uniqueness among the names in seen (name → index).
// It reports whether the name is usable for references.
func (v *validator) name(seen map[string]int, kind, list string, i int, name string, problem func(string) string) bool {
	if p := problem(name); p != "" {
		v.errorf(at(list, i, ".name"), "%s name %s %s", kind, quoteName(name), p)
		return false
	}
	if first, dup := seen[name]; dup {
		v.errorf(at(list, i, ".name"), "duplicate %s name %s (first at %s)", kind, quoteName(name), v.where(at(list, first, ".name")))
		return false
	}
	seen[name] = i
	return true
}

func (v *validator) listen(l *messages.ListenConfig) {
	keys := [...]struct{ key, addr string }{
		{"listen.remote", l.GetRemote()}, {"listen.www", l.GetWww()}, {"listen.debug", l.GetDebug()},
		{"listen.workers", l.GetWorkers()}, {"listen.workers_pb", l.GetWorkersPb()},
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
			// Port 0 never collides: each listener gets a port of its own.
			if a.port == 0 || addrs[j].port == 0 || !addrs[j].collides(a) {
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
	if t := l.GetWorkersTls(); t != nil && (t.GetCertFile() == "") != (t.GetKeyFile() == "") {
		v.errorf("listen.workers_tls", "workers_tls needs both cert_file and key_file")
	}
	if l != nil && l.WorkersMaxUnauthenticated != nil && l.GetWorkersMaxUnauthenticated() < 1 {
		v.errorf("listen.workers_max_unauthenticated", "workers_max_unauthenticated is %d; it must be at least 1 (leave it out for the default)", l.GetWorkersMaxUnauthenticated())
	}
}

// http checks the bounds of the HTTP listeners: none negative, no timeout 0
// (each must bound what a client can hold).
func (v *validator) http(h *messages.HttpConfig) {
	if h != nil && h.MaxBodyBytes != nil && h.GetMaxBodyBytes() < 1 {
		v.errorf("http.max_body_bytes", "max_body_bytes is %d; it must be at least 1 (leave it out for the default, 1 MiB)", h.GetMaxBodyBytes())
	}
	if h != nil && h.MaxConnections != nil && h.GetMaxConnections() < 1 {
		v.errorf("http.max_connections", "max_connections is %d; it must be at least 1 (leave it out for the default)", h.GetMaxConnections())
	}
	for _, t := range []struct {
		key string
		d   *durationpb.Duration
	}{
		{"read_header_timeout", h.GetReadHeaderTimeout()}, {"read_timeout", h.GetReadTimeout()},
		{"write_timeout", h.GetWriteTimeout()}, {"idle_timeout", h.GetIdleTimeout()},
	} {
		if t.d != nil && t.d.AsDuration() <= 0 {
			v.errorf("http."+t.key, "%s must be positive: every connection is bounded", t.key)
		}
	}
}

// MaxJanitorBatch bounds horizons.batch: one write of the janitor removes
// at most ten times as many rows of a kind, within a command's 10,000 ids.
const MaxJanitorBatch = 1000

func (v *validator) horizons(h *messages.HorizonsConfig) {
	if n := h.GetBuildsPerBuilder(); n < 0 {
		v.errorf("horizons.builds_per_builder", "builds_per_builder is %d; it must not be negative (0 keeps every build)", n)
	}
	if n := h.GetChanges(); n < 0 {
		v.errorf("horizons.changes", "changes is %d; it must not be negative (0 keeps every change)", n)
	}
	if n := h.GetBatch(); n < 0 || n > MaxJanitorBatch {
		v.errorf("horizons.batch", "batch is %d; it must be 1…%d (0 means the default, 100)", n, MaxJanitorBatch)
	}
	if i := h.GetInterval(); i != nil && i.AsDuration() < time.Minute {
		v.errorf("horizons.interval", "interval is %s; it must be at least 1m", i.AsDuration())
	}
	for _, d := range []struct {
		key string
		d   *durationpb.Duration
	}{{"logs", h.GetLogs()}, {"builds", h.GetBuilds()}} {
		if d.d != nil && d.d.AsDuration() < time.Hour {
			v.errorf("horizons."+d.key, "%s is %s; a horizon is at least 1h (leave it out to keep everything)", d.key, d.d.AsDuration())
		}
	}
}

// workers checks the workers and returns the index of each valid name.
func (v *validator) workers(ws []*messages.WorkerConfig) map[string]int {
	seen := make(map[string]int, len(ws))
	for i, w := range ws {
		v.name(seen, "worker", "workers", i, w.GetName(), workerNameProblem)
		if w.GetMaxBuilds() < 0 {
			v.errorf(at("workers", i, ".max_builds"), "max_builds is %d; it must not be negative (0 means no limit)", w.GetMaxBuilds())
		}
		if k := w.GetKeepaliveInterval(); k != nil && k.AsDuration() < time.Second {
			v.errorf(at("workers", i, ".keepalive_interval"), "keepalive_interval is %s; it must be at least 1s", k.AsDuration())
		}
		for j, a := range w.GetNotifyOnMissing() {
			if _, err := mail.ParseAddress(a); err != nil {
				v.errorf(at("workers", i, fmt.Sprintf(".notify_on_missing[%d]", j)), "%q is not a mail address: %v", a, err)
			}
		}
	}
	return seen
}

// locks checks the locks and returns the index of each valid lock name.
func (v *validator) locks(ls []*messages.LockConfig) map[string]int {
	seen := make(map[string]int, len(ls))
	for i, l := range ls {
		v.name(seen, "lock", "locks", i, l.GetName(), lockNameProblem)
		if l.GetType() == messages.LockType_LOCK_TYPE_UNSPECIFIED {
			v.errorf(at("locks", i, ".type"), "lock %s has no type; set master or worker", quoteName(l.GetName()))
		}
		if l != nil && l.MaxCount != nil && l.GetMaxCount() < 1 {
			v.errorf(at("locks", i, ".max_count"), "max_count is %d; it must be at least 1 (leave it out for 1)", l.GetMaxCount())
		}
	}
	return seen
}

func lockNameProblem(name string) string {
	if name == "" {
		return "is empty"
	}
	return ""
}

// builderLocks checks that builders take known locks, each once, with a mode.
func (v *validator) builderLocks(bs []*messages.BuilderConfig, locks map[string]int) {
	for i, b := range bs {
		taken := map[string]int{}
		for j, l := range b.GetLocks() {
			p := indexPath(at("builders", i, ".locks"), j)
			if _, ok := locks[l.GetName()]; !ok {
				v.errorf(p, "builder %s takes unknown lock %s", quoteName(b.GetName()), quoteName(l.GetName()))
			} else if first, dup := taken[l.GetName()]; dup {
				v.errorf(p, "builder %s takes lock %s twice (first at %s)", quoteName(b.GetName()), quoteName(l.GetName()),
					v.where(indexPath(at("builders", i, ".locks"), first)))
			} else {
				taken[l.GetName()] = j
			}
			if l.GetAccess() == messages.LockAccessMode_LOCK_ACCESS_MODE_UNSPECIFIED {
				v.errorf(p, "builder %s takes lock %s with no access; set exclusive or counting", quoteName(b.GetName()), quoteName(l.GetName()))
			}
		}
	}
}

// builders checks the builders (except their steps) against the workers and
// returns the index of each valid builder name.
func (v *validator) builders(bs []*messages.BuilderConfig, workers map[string]int) map[string]int {
	seen := make(map[string]int, len(bs))
	builddirs := make(map[string]int, len(bs)) // builddir → index of its builder
	for i, b := range bs {
		name := b.GetName()
		ok := v.name(seen, "builder", "builders", i, name, builderNameProblem)
		if dir := b.GetBuilddir(); ok && dir != "" {
			if first, dup := builddirs[dir]; dup {
				v.errorf(at("builders", i, ".builddir"), "builder %s has the same builddir %q as builder %s (%s)",
					quoteName(name), dir, quoteName(bs[first].GetName()), v.where(at("builders", first, ".builddir")))
			} else {
				builddirs[dir] = i
			}
		}
		ws := b.GetWorkers()
		if len(ws) == 0 {
			v.errorf(at("builders", i, ".workers"), "builder %s has no workers", quoteName(name))
		}
		var listed map[string]int // worker → first index, for long lists only
		if len(ws) > 16 {
			listed = make(map[string]int, len(ws))
		}
		for j, w := range ws {
			first := -1
			if listed == nil {
				first = slices.Index(ws[:j], w)
			} else if f, dup := listed[w]; dup {
				first = f
			} else {
				listed[w] = j
			}
			if _, known := workers[w]; !known {
				v.errorf(indexPath(at("builders", i, ".workers"), j), "builder %s uses unknown worker %s", quoteName(name), quoteName(w))
			} else if first >= 0 {
				v.errorf(indexPath(at("builders", i, ".workers"), j), "builder %s lists worker %s twice (first at %s)",
					quoteName(name), quoteName(w), v.where(indexPath(at("builders", i, ".workers"), first)))
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
	{"change_filter", []messages.SchedulerType{messages.SchedulerType_SCHEDULER_TYPE_SINGLE_BRANCH, messages.SchedulerType_SCHEDULER_TYPE_ANY_BRANCH}},
	{"periodic_interval", []messages.SchedulerType{messages.SchedulerType_SCHEDULER_TYPE_PERIODIC}},
	{"cron", []messages.SchedulerType{messages.SchedulerType_SCHEDULER_TYPE_NIGHTLY}},
	{"upstream", []messages.SchedulerType{messages.SchedulerType_SCHEDULER_TYPE_DEPENDENT}},
}

// schedulers checks the schedulers against the builders and returns the type
// of each scheduler by name.
func (v *validator) schedulers(ss []*messages.SchedulerConfig, builders map[string]int) map[string]messages.SchedulerType {
	seen := make(map[string]int, len(ss))
	types := make(map[string]messages.SchedulerType, len(ss))
	for i, s := range ss {
		if v.name(seen, "scheduler", "schedulers", i, s.GetName(), nameProblem) {
			types[s.GetName()] = s.GetType()
		}
	}
	for i, s := range ss {
		v.scheduler(i, s, builders, types)
	}
	return types
}

// scheduler checks scheduler i: its type, its builders, its change filter's
// regular expressions, that it sets only fields of its type, and what its
// type needs. types gives the type of each scheduler by name.
func (v *validator) scheduler(i int, s *messages.SchedulerConfig, builders map[string]int, types map[string]messages.SchedulerType) {
	name, typ := s.GetName(), s.GetType()
	if typ == messages.SchedulerType_SCHEDULER_TYPE_UNSPECIFIED {
		v.errorf(at("schedulers", i, ".type"), "scheduler %s has no type; set one of %s", quoteName(name),
			strings.Join(enumNames(typ.Descriptor()), ", "))
	} else if typ.Descriptor().Values().ByNumber(typ.Number()) == nil {
		v.errorf(at("schedulers", i, ".type"), "scheduler %s has unknown type %d", quoteName(name), typ)
	}
	if len(s.GetBuilders()) == 0 {
		v.errorf(at("schedulers", i, ".builders"), "scheduler %s has no builders", quoteName(name))
	}
	if f := s.GetChangeFilter(); f != nil {
		v.changeFilter(i, f)
	}
	for j, b := range s.GetBuilders() {
		if _, ok := builders[b]; !ok {
			v.errorf(indexPath(at("schedulers", i, ".builders"), j), "unknown builder %s in scheduler %s", quoteName(b), quoteName(name))
		}
	}
	if typ != messages.SchedulerType_SCHEDULER_TYPE_UNSPECIFIED {
		v.schedulerFields(i, s)
	}
	switch typ {
	case messages.SchedulerType_SCHEDULER_TYPE_PERIODIC:
		if s.GetPeriodicInterval().AsDuration() <= 0 {
			v.errorf(at("schedulers", i, ".periodic_interval"), "periodic scheduler %s needs a positive periodic_interval", quoteName(name))
		}
	case messages.SchedulerType_SCHEDULER_TYPE_NIGHTLY:
		if s.GetCron() == "" {
			v.errorf(at("schedulers", i, ".cron"), "nightly scheduler %s needs cron (minute hour day-of-month month day-of-week)", quoteName(name))
		} else if _, err := ParseCron(s.GetCron()); err != nil {
			v.errorf(at("schedulers", i, ".cron"), "invalid cron %q: %v", s.GetCron(), err)
		}
	case messages.SchedulerType_SCHEDULER_TYPE_DEPENDENT:
		switch up := s.GetUpstream(); {
		case up == "":
			v.errorf(at("schedulers", i, ".upstream"), "dependent scheduler %s needs upstream", quoteName(name))
		case up == name:
			v.errorf(at("schedulers", i, ".upstream"), "scheduler %s cannot be its own upstream", quoteName(name))
		default:
			if _, ok := types[up]; !ok {
				v.errorf(at("schedulers", i, ".upstream"), "upstream %s of scheduler %s is not a configured scheduler", quoteName(up), quoteName(name))
			}
		}
	}
}

// changeFilter checks that the regular expressions of scheduler i's change
// filter compile.
func (v *validator) changeFilter(i int, f *messages.ChangeFilterConfig) {
	for _, re := range []struct {
		key  string
		list []string
	}{{"project_re", f.GetProjectRe()}, {"repository_re", f.GetRepositoryRe()}, {"branch_re", f.GetBranchRe()},
		{"category_re", f.GetCategoryRe()}, {"codebase_re", f.GetCodebaseRe()}} {
		for j, expr := range re.list {
			if _, err := regexp.Compile(expr); err != nil {
				v.errorf(indexPath(at("schedulers", i, ".change_filter."+re.key), j), "bad regular expression: %v", err)
			}
		}
	}
}

// schedulerFields reports each field scheduler i sets that its type does
// not take (schedulerOnly).
func (v *validator) schedulerFields(i int, s *messages.SchedulerConfig) {
	m := s.ProtoReflect()
	for _, only := range schedulerOnly {
		fd := m.Descriptor().Fields().ByName(only.field)
		if m.Has(fd) && !slices.Contains(only.types, s.GetType()) {
			names := make([]string, len(only.types))
			for k, t := range only.types {
				names[k] = enumName(t)
			}
			v.errorf(at("schedulers", i, "."+string(only.field)), "%s is only for %s schedulers; scheduler %s has type %s",
				only.field, strings.Join(names, " and "), quoteName(s.GetName()), enumName(s.GetType()))
		}
	}
}

// step checks step k of builder i; schedulers gives the type of each scheduler.
func (v *validator) step(i, k int, s *messages.StepConfig, schedulers map[string]messages.SchedulerType) {
	path := func(rest string) string { return indexPath(at("builders", i, ".steps"), k) + rest }
	if n := len(s.GetName()); n > maxStepNameBytes {
		v.errorf(path(".name"), "step name is %d bytes; at most %d", n, maxStepNameBytes)
	}
	switch kind := s.GetKind().(type) {
	case nil:
		v.errorf(path(""), "step has no kind; set one of %s", oneofNames(s.ProtoReflect().Descriptor().Oneofs().ByName("kind")))
	case *messages.StepConfig_Shell:
		switch cmd, script := len(kind.Shell.GetCommand()) > 0, kind.Shell.GetScript() != ""; {
		case !cmd && !script:
			v.errorf(path(".shell.command"), "shell step needs command (a list of arguments) or script")
		case cmd && script:
			v.errorf(path(".shell.script"), "shell step sets both command and script; keep one")
		}
		v.secretRefs(path(".shell.script"), kind.Shell.GetScript())
		for j, a := range kind.Shell.GetCommand() {
			v.secretRefs(indexPath(path(".shell.command"), j), a)
		}
		for _, name := range slices.Sorted(maps.Keys(kind.Shell.GetEnv())) {
			v.secretRefs(fieldPath(path(".shell.env"), name), kind.Shell.GetEnv()[name])
		}
		for rc, r := range kind.Shell.GetDecodeRc() {
			if r == messages.StepResult_STEP_RESULT_UNSPECIFIED || r.Descriptor().Values().ByNumber(r.Number()) == nil {
				v.errorf(fieldPath(path(".shell.decode_rc"), strconv.Itoa(int(rc))), "exit code %d maps to no result; use one of %s",
					rc, strings.Join(enumNames(r.Descriptor()), ", "))
			}
		}
	case *messages.StepConfig_Git:
		if kind.Git.GetRepoUrl() == "" {
			v.errorf(path(".git.repo_url"), "git step needs repo_url")
		}
		v.secretRefs(path(".git.repo_url"), kind.Git.GetRepoUrl())
		v.secretRefs(path(".git.branch"), kind.Git.GetBranch())
		if m := kind.Git.GetMode(); m != "" && m != "full" && m != "incremental" {
			v.errorf(path(".git.mode"), "git step mode %q is not full or incremental", m)
		}
	case *messages.StepConfig_SetProperty:
		if kind.SetProperty.GetProperty() == "" {
			v.errorf(path(".set_property.property"), "set_property step needs property")
		}
		if strings.Contains(kind.SetProperty.GetValue(), "%(secret:") {
			v.errorf(path(".set_property.value"), "a property cannot hold a secret: properties show in the API and the UI")
		}
	case *messages.StepConfig_Trigger:
		if len(kind.Trigger.GetSchedulers()) == 0 {
			v.errorf(path(".trigger.schedulers"), "trigger step names no schedulers")
		}
		for j, name := range kind.Trigger.GetSchedulers() {
			switch typ, ok := schedulers[name]; {
			case !ok:
				v.errorf(indexPath(path(".trigger.schedulers"), j), "trigger step names unknown scheduler %s", quoteName(name))
			case typ != messages.SchedulerType_SCHEDULER_TYPE_TRIGGERABLE:
				v.errorf(indexPath(path(".trigger.schedulers"), j), "trigger step names scheduler %s, which is not a triggerable scheduler", quoteName(name))
			}
		}
	case *messages.StepConfig_StringDownload:
		v.secretRefs(path(".string_download.s"), kind.StringDownload.GetS())
		v.transferStep(s, path)
	default:
		v.transferStep(s, path)
	}
}

// secretRefs checks the %(secret:NAME)s references in a field the steps
// render: well formed, and names a provider can be asked for.
func (v *validator) secretRefs(path, s string) {
	if !strings.Contains(s, "%(secret:") {
		return
	}
	names, err := secrets.References(s)
	if err != nil {
		v.errorf(path, "%v", err)
		return
	}
	for _, n := range names {
		if !validSecretName(n) {
			v.errorf(path, "secret name %q: want letters, digits and . _ - / | only", n)
		}
	}
}

func (v *validator) changeSources(cs []*messages.ChangeSourceConfig) {
	seen := make(map[string]int, len(cs))
	for i, c := range cs {
		v.name(seen, "change source", "change_sources", i, c.GetName(), nameProblem)
		switch kind := c.GetKind().(type) {
		case nil:
			v.errorf(at("change_sources", i, ""), "change source %s has no kind; set one of %s", quoteName(c.GetName()),
				oneofNames(c.ProtoReflect().Descriptor().Oneofs().ByName("kind")))
		case *messages.ChangeSourceConfig_GitPoller:
			if kind.GitPoller.GetRepoUrl() == "" {
				v.errorf(at("change_sources", i, ".git_poller.repo_url"), "git_poller %s needs repo_url", quoteName(c.GetName()))
			}
		case *messages.ChangeSourceConfig_ChangeHook:
			if d := kind.ChangeHook.GetDialect(); d != "base" && d != "github" {
				v.errorf(at("change_sources", i, ".change_hook.dialect"), "change_hook dialect %q is not base or github", d)
			}
		}
	}
}

// reporters checks each reporter's name and, offline, its type, fields
// and generators (internal/report/setup).
func (v *validator) reporters(rs []*messages.ReporterConfig) {
	seen := make(map[string]int, len(rs))
	for i, r := range rs {
		v.name(seen, "reporter", "reporters", i, r.GetName(), nameProblem)
		if err := setup.Validate(r); err != nil {
			v.errorf(at("reporters", i, ""), "reporter %s: %v", quoteName(r.GetName()), err)
		}
	}
}

// durations reports every negative or invalid Duration in m, which is at
// path. Parse never produces one; a config that arrives as a message can.
func (v *validator) durations(m protoreflect.Message, path string) {
	if m.Descriptor().FullName() == durationName {
		if d, ok := m.Interface().(*durationpb.Duration); ok && (d.CheckValid() != nil || d.AsDuration() < 0) {
			v.errorf(path, "duration %s is negative or out of range", d.AsDuration())
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		if (fd.IsMap() && fd.MapValue().Message() == nil) || (!fd.IsMap() && fd.Message() == nil) {
			return true // no message, so no duration, below: skip building its path
		}
		fpath := fieldPath(path, string(fd.Name()))
		switch {
		case fd.IsMap():
			val.Map().Range(func(k protoreflect.MapKey, e protoreflect.Value) bool {
				v.durations(e.Message(), fieldPath(fpath, k.String()))
				return true
			})
		case fd.IsList():
			for i := range val.List().Len() {
				v.durations(val.List().Get(i).Message(), indexPath(fpath, i))
			}
		default:
			v.durations(val.Message(), fpath)
		}
		return true
	})
}
