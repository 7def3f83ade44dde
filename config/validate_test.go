package config

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/messages"
)

// loadErrors loads text (a leading newline is dropped, so cases can start on
// their own line) and returns its errors.
func loadErrors(t *testing.T, text string) Errors {
	t.Helper()
	_, err := Load("test.yaml", []byte(strings.TrimPrefix(text, "\n")))
	if err == nil {
		return nil
	}
	errs, ok := err.(Errors)
	if !ok {
		t.Fatalf("Load returned %T, want Errors: %v", err, err)
	}
	return errs
}

// want is one expected error: its path, line and a substring of its message.
type want struct {
	path string
	line int
	msg  string
}

// checkErrors asserts that errs are exactly the wanted ones, in order.
func checkErrors(t *testing.T, errs Errors, wants ...want) {
	t.Helper()
	if len(errs) != len(wants) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(wants), errs)
	}
	for i, w := range wants {
		e := errs[i]
		if e.Path != w.path || e.Line != w.line || !strings.Contains(e.Msg, w.msg) {
			t.Errorf("error %d = %q at %s line %d\nwant %q at %s line %d", i, e.Msg, e.Path, e.Line, w.msg, w.path, w.line)
		}
		if e.File != "test.yaml" {
			t.Errorf("error %d: File = %q, want test.yaml", i, e.File)
		}
	}
}

// A tiny valid config that cases build on: worker w, builder b, scheduler s.
const base = `
workers: [{name: w}]
builders: [{name: b, workers: [w], steps: [{shell: {command: [true]}}]}]
schedulers:
  - {name: s, type: force, builders: [b]}`

func TestValidateRules(t *testing.T) {
	long := strings.Repeat("x", 101)
	tests := []struct {
		name  string
		yaml  string
		wants []want // none: the config is valid
	}{
		{"empty config", ``, nil},
		{"base config", base, nil},

		// Duplicate names point at the second and name the line of the first.
		{"duplicate worker", `
workers:
  - {name: w}
  - {name: w}
`, []want{{"workers[1].name", 3, `duplicate worker name "w" (first at line 2)`}}},
		{"duplicate builder", `
workers: [{name: w}]
builders:
  - {name: b, workers: [w]}
  - {name: b, workers: [w]}
`, []want{{"builders[1].name", 4, `duplicate builder name "b" (first at line 3)`}}},
		{"duplicate scheduler", `
workers: [{name: w}]
builders: [{name: b, workers: [w]}]
schedulers:
  - {name: s, type: force, builders: [b]}
  - {name: s, type: force, builders: [b]}
`, []want{{"schedulers[1].name", 5, `duplicate scheduler name "s" (first at line 4)`}}},
		{"duplicate change source", `
change_sources:
  - {name: c, git_poller: {repo_url: /r}}
  - {name: c, git_poller: {repo_url: /r}}
`, []want{{"change_sources[1].name", 3, `duplicate change source name "c" (first at line 2)`}}},

		// Builders and their workers.
		{"builder without workers", `
builders:
  - name: b
`, []want{{"builders[0].workers", 2, `builder "b" has no workers`}}},
		{"builder with empty worker list", `
builders:
  - name: b
    workers: []
`, []want{{"builders[0].workers", 3, `builder "b" has no workers`}}},
		{"unknown worker", `
workers: [{name: w}]
builders:
  - name: b
    workers: [w, x]
`, []want{{"builders[0].workers[1]", 4, `builder "b" uses unknown worker "x"`}}},
		{"worker listed twice", `
workers: [{name: w}]
builders:
  - name: b
    workers:
      - w
      - w
`, []want{{"builders[0].workers[1]", 6, `builder "b" lists worker "w" twice (first at line 5)`}}},
		{"worker listed twice in a long list", `
workers: [{name: a}, {name: b}, {name: c}, {name: d}, {name: e}, {name: f}]
builders:
  - name: b
    workers: [a, b, c, d, e, f, a, b, c, d, e, f, a, b, c, d, e, f]
`, []want{
			{"builders[0].workers[6]", 4, `builder "b" lists worker "a" twice (first at line 4)`},
			{"builders[0].workers[7]", 4, `lists worker "b" twice`},
			{"builders[0].workers[8]", 4, `lists worker "c" twice`},
			{"builders[0].workers[9]", 4, `lists worker "d" twice`},
			{"builders[0].workers[10]", 4, `lists worker "e" twice`},
			{"builders[0].workers[11]", 4, `lists worker "f" twice`},
			{"builders[0].workers[12]", 4, `lists worker "a" twice`},
			{"builders[0].workers[13]", 4, `lists worker "b" twice`},
			{"builders[0].workers[14]", 4, `lists worker "c" twice`},
			{"builders[0].workers[15]", 4, `lists worker "d" twice`},
			{"builders[0].workers[16]", 4, `lists worker "e" twice`},
			{"builders[0].workers[17]", 4, `lists worker "f" twice`},
		}},
		{"duplicate builddir", `
workers: [{name: w}]
builders:
  - {name: a, workers: [w], builddir: d}
  - {name: b, workers: [w], builddir: d}
`, []want{{"builders[1].builddir", 4, `builder "b" has the same builddir "d" as builder "a" (line 3)`}}},
		{"builddir colliding with a defaulted one", `
workers: [{name: w}]
builders:
  - {name: a, workers: [w]}
  - name: b
    workers: [w]
    builddir: a
`, []want{{"builders[1].builddir", 6, `same builddir "a" as builder "a"`}}},

		// Schedulers.
		{"scheduler with unknown builder", base + `
  - name: t
    type: force
    builders: [b, x]
`, []want{{"schedulers[1].builders[1]", 7, `unknown builder "x" in scheduler "t"`}}},
		{"scheduler without type", base + `
  - name: t
    builders: [b]
`, []want{{"schedulers[1].type", 5, `scheduler "t" has no type; set one of force, single_branch`}}},
		{"scheduler without builders", base + `
  - name: t
    type: force
`, []want{{"schedulers[1].builders", 5, `scheduler "t" has no builders`}}},
		{"periodic without interval", base + `
  - name: t
    type: periodic
    builders: [b]
`, []want{{"schedulers[1].periodic_interval", 5, `periodic scheduler "t" needs a positive periodic_interval`}}},
		{"periodic with zero interval", base + `
  - name: t
    type: periodic
    builders: [b]
    periodic_interval: 0s
`, []want{{"schedulers[1].periodic_interval", 8, `needs a positive periodic_interval`}}},
		{"periodic", base + `
  - {name: t, type: periodic, builders: [b], periodic_interval: 1h}
`, nil},
		{"nightly without cron", base + `
  - name: t
    type: nightly
    builders: [b]
`, []want{{"schedulers[1].cron", 5, `nightly scheduler "t" needs cron`}}},
		{"dependent on unknown scheduler", base + `
  - name: t
    type: dependent
    builders: [b]
    upstream: nope
`, []want{{"schedulers[1].upstream", 8, `upstream "nope" of scheduler "t" is not a configured scheduler`}}},
		{"dependent on itself", base + `
  - name: t
    type: dependent
    builders: [b]
    upstream: t
`, []want{{"schedulers[1].upstream", 8, `scheduler "t" cannot be its own upstream`}}},
		{"dependent without upstream", base + `
  - name: t
    type: dependent
    builders: [b]
`, []want{{"schedulers[1].upstream", 5, `dependent scheduler "t" needs upstream`}}},
		{"dependent", base + `
  - {name: t, type: dependent, builders: [b], upstream: s}
`, nil},
		{"cron on a force scheduler", base + `
  - name: t
    type: force
    builders: [b]
    cron: "0 3 * * *"
`, []want{{"schedulers[1].cron", 8, `cron is only for nightly schedulers; scheduler "t" has type force`}}},
		{"branch on an any_branch scheduler", base + `
  - name: t
    type: any_branch
    builders: [b]
    branch: main
    tree_stable_timer: 1m
`, []want{{"schedulers[1].branch", 8, `branch is only for single_branch schedulers; scheduler "t" has type any_branch`}}},
		{"tree_stable_timer on a periodic scheduler", base + `
  - name: t
    type: periodic
    builders: [b]
    periodic_interval: 1h
    tree_stable_timer: 1m
`, []want{{"schedulers[1].tree_stable_timer", 9, `tree_stable_timer is only for single_branch and any_branch schedulers`}}},
		{"upstream on a nightly scheduler", base + `
  - name: t
    type: nightly
    builders: [b]
    cron: "* * * * *"
    upstream: s
`, []want{{"schedulers[1].upstream", 9, `upstream is only for dependent schedulers`}}},
		{"branches and file_is_important on triggerable", base + `
  - name: t
    type: triggerable
    builders: [b]
    branches: [main]
    file_is_important: ["*.go"]
`, []want{
			{"schedulers[1].branches", 8, `branches is only for any_branch schedulers`},
			{"schedulers[1].file_is_important", 9, `file_is_important is only for single_branch and any_branch`},
		}},
		{"periodic_interval on a force scheduler", base + `
  - {name: t, type: force, builders: [b], periodic_interval: 1h}
`, []want{{"schedulers[1].periodic_interval", 5, `periodic_interval is only for periodic schedulers`}}},

		// Steps.
		{"trigger naming a non-triggerable scheduler", `
workers: [{name: w}]
builders:
  - name: b
    workers: [w]
    steps:
      - trigger: {schedulers: [s]}
schedulers: [{name: s, type: force, builders: [b]}]
`, []want{{"builders[0].steps[0].trigger.schedulers[0]", 6, `scheduler "s", which is not a triggerable scheduler`}}},
		{"trigger naming an unknown scheduler", `
workers: [{name: w}]
builders:
  - name: b
    workers: [w]
    steps:
      - trigger:
          schedulers: [t, nope]
schedulers: [{name: t, type: triggerable, builders: [b]}]
`, []want{{"builders[0].steps[0].trigger.schedulers[1]", 7, `unknown scheduler "nope"`}}},
		{"trigger without schedulers", `
workers: [{name: w}]
builders:
  - name: b
    workers: [w]
    steps:
      - trigger: {wait_for_finish: true}
`, []want{{"builders[0].steps[0].trigger.schedulers", 6, `trigger step names no schedulers`}}},
		{"step without kind", `
workers: [{name: w}]
builders:
  - name: b
    workers: [w]
    steps:
      - name: nothing
`, []want{{"builders[0].steps[0]", 6, `step has no kind; set one of shell, git, set_property, trigger`}}},
		{"shell step without command or script", `
workers: [{name: w}]
builders:
  - name: b
    workers: [w]
    steps:
      - shell: {workdir: x}
`, []want{{"builders[0].steps[0].shell.command", 6, `shell step needs command`}}},
		{"shell step with command and script", `
workers: [{name: w}]
builders:
  - name: b
    workers: [w]
    steps:
      - shell:
          command: [make]
          script: make
`, []want{{"builders[0].steps[0].shell.script", 8, `sets both command and script`}}},
		{"step name too long", `
workers: [{name: w}]
builders:
  - name: b
    workers: [w]
    steps:
      - name: sssssssssssssssssssssssssssssssssssssssssssssssssss
        shell: {command: [make]}
`, []want{{"builders[0].steps[0].name", 6, `step name is 51 bytes; at most 50`}}},
		{"step results", `
workers: [{name: w}]
builders:
  - name: b
    workers: [w]
    steps:
      - shell:
          command: [make]
          decode_rc: {0: success, 1: warnings, -1: failure, 3: skipped, 4: exception, 5: retry, 6: cancelled}
        flunk_on_failure: false
        warn_on_warnings: true
        flunk_on_warnings: true
`, nil},
		{"git step without repo_url", `
workers: [{name: w}]
builders:
  - name: b
    workers: [w]
    steps:
      - git: {branch: main}
`, []want{{"builders[0].steps[0].git.repo_url", 6, `git step needs repo_url`}}},
		{"git step with a bad mode", `
workers: [{name: w}]
builders:
  - name: b
    workers: [w]
    steps:
      - git:
          repo_url: /r
          mode: shallow
`, []want{{"builders[0].steps[0].git.mode", 8, `git step mode "shallow" is not full or incremental`}}},
		{"set_property without property", `
workers: [{name: w}]
builders:
  - name: b
    workers: [w]
    steps:
      - set_property: {value: x}
`, []want{{"builders[0].steps[0].set_property.property", 6, `set_property step needs property`}}},
		{"secret references in steps", `
workers: [{name: w}]
builders:
  - name: b
    workers: [w]
    env: {TOKEN: "%(secret:tok)s", BAD: "%(secret:)s"}
    steps:
      - shell: {command: [echo, "%(secret:ok)s", "%(secret:x:-d)s"], env: {A: "%(secret:a b)s"}}
      - git: {repo_url: "https://x:%(secret:gh)s@h/r", branch: "%(secret:br)"}
      - string_download: {s: "%(secret:netrc)s", workerdest: .netrc}
      - set_property: {property: p, value: "%(secret:tok)s"}
`, []want{
			{"builders[0].env.BAD", 5, `empty name`},
			{"builders[0].steps[0].shell.command[2]", 7, `a secret has no default`},
			{"builders[0].steps[0].shell.env.A", 7, `secret name "a b"`},
			{"builders[0].steps[1].git.branch", 8, `it must end with ")s"`},
			{"builders[0].steps[3].set_property.value", 10, `a property cannot hold a secret`},
		}},

		// Change sources.
		{"change source without kind", `
change_sources:
  - name: c
`, []want{{"change_sources[0]", 2, `change source "c" has no kind; set one of git_poller, change_hook`}}},
		{"git_poller without repo_url", `
change_sources:
  - name: c
    git_poller: {branches: [main]}
`, []want{{"change_sources[0].git_poller.repo_url", 3, `git_poller "c" needs repo_url`}}},
		{"change_hook with an unknown dialect", `
change_sources:
  - name: c
    change_hook:
      dialect: gitlab
`, []want{{"change_sources[0].change_hook.dialect", 4, `change_hook dialect "gitlab" is not base or github`}}},
		{"change_hook without dialect", `
change_sources:
  - name: c
    change_hook: {secret: s3cret}
`, []want{{"change_sources[0].change_hook.dialect", 3, `change_hook dialect "" is not base or github`}}},
		{"change hooks", `
change_sources:
  - {name: c, change_hook: {dialect: base}}
  - {name: d, change_hook: {dialect: github, secret: x}}
`, nil},

		// Horizons.
		{"horizons", `
horizons: {logs: 30d, builds: 1d12h, builds_per_builder: 10, changes: 5, interval: 1h, batch: 1000}
`, nil},
		{"bad horizons", `
horizons:
  logs: 30m
  builds: 0s
  builds_per_builder: -1
  changes: -2
  interval: 10s
  batch: 1001
`, []want{
			{"horizons.logs", 2, `logs is 30m0s; a horizon is at least 1h (leave it out to keep everything)`},
			{"horizons.builds", 3, `builds is 0s; a horizon is at least 1h (leave it out to keep everything)`},
			{"horizons.builds_per_builder", 4, `builds_per_builder is -1; it must not be negative (0 keeps every build)`},
			{"horizons.changes", 5, `changes is -2; it must not be negative (0 keeps every change)`},
			{"horizons.interval", 6, `interval is 10s; it must be at least 1m`},
			{"horizons.batch", 7, `batch is 1001; it must be 1…1000 (0 means the default, 100)`},
		}},
		{"days are durations", `
horizons: {logs: 1d}
supervision: {within: 2d}
`, nil},

		// Numbers.
		{"cache smaller than 1", `
caches:
  Builds: 5
  Changes: 0
`, []want{{"caches.Changes", 3, `cache "Changes" has size 0; it must be at least 1`}}},
		{"negative max_builds", `
workers:
  - name: w
    max_builds: -1
`, []want{{"workers[0].max_builds", 3, `max_builds is -1; it must not be negative`}}},
		{"locks", `
locks:
  - {name: l1, type: master, max_count: 2}
  - {name: l1, type: worker}
  - {name: l2}
workers: [{name: w}]
builders:
  - name: b
    workers: [w]
    locks: [{name: l1, access: exclusive}, {name: nope, access: counting}, {name: l1, access: counting}, {name: l2}]
`, []want{
			{"locks[1].name", 3, `duplicate lock name "l1"`},
			{"locks[2].type", 4, `lock "l2" has no type; set master or worker`},
			{"builders[0].locks[1]", 9, `builder "b" takes unknown lock "nope"`},
			{"builders[0].locks[2]", 9, `builder "b" takes lock "l1" twice`},
			{"builders[0].locks[3]", 9, `builder "b" takes lock "l2" with no access`},
		}},
		{"lock max_count of zero", `
locks:
  - {name: l, type: master, max_count: 0}
`, []want{{"locks[0].max_count", 2, `max_count is 0; it must be at least 1 (leave it out for 1)`}}},
		{"change filter with a bad expression", `
workers: [{name: w}]
builders: [{name: b, workers: [w]}]
schedulers:
  - name: s
    type: any_branch
    builders: [b]
    change_filter: {branch_re: ["ok", "(unclosed"]}
`, []want{{"schedulers[0].change_filter.branch_re[1]", 7, "bad regular expression"}}},
		{"change filter on a force scheduler", `
workers: [{name: w}]
builders: [{name: b, workers: [w]}]
schedulers:
  - {name: s, type: force, builders: [b], change_filter: {branch: [main]}}
`, []want{{"schedulers[0].change_filter", 4, "change_filter is only for single_branch and any_branch schedulers"}}},
		{"keepalive too short", `
workers:
  - name: w
    keepalive_interval: 100ms
`, []want{{"workers[0].keepalive_interval", 3, `keepalive_interval is 100ms; it must be at least 1s`}}},
		{"negative max_restarts", `
supervision:
  max_restarts: -2
`, []want{{"supervision.max_restarts", 2, `max_restarts is -2; it must not be negative`}}},
		{"zero restart window", `
supervision: {within: 0s}
`, []want{{"supervision.within", 1, `within must be positive`}}},

		// Names.
		{"empty name", `
workers:
  - name: ""
`, []want{{"workers[0].name", 2, `worker name "" is empty`}}},
		{"missing name", `
change_sources:
  - git_poller: {repo_url: /r}
`, []want{{"change_sources[0].name", 2, `change source name "" is empty`}}},
		{"name longer than 100", `
change_sources:
  - {name: ` + long + `, git_poller: {repo_url: /r}}
`, []want{{"change_sources[0].name", 2, `is longer than 100 characters`}}},
		{"name with slash", base + `
  - {name: a/b, type: force, builders: [b]}
`, []want{{"schedulers[1].name", 5, `scheduler name "a/b" contains "/"`}}},
		{"name with colon", base + `
  - {name: "a:b", type: force, builders: [b]}
`, []want{{"schedulers[1].name", 5, `contains ":"`}}},
		{"name with whitespace", `
workers: [{name: w}]
builders:
  - {name: a b, workers: [w]}
`, []want{{"builders[0].name", 3, `builder name "a b" contains whitespace`}}},
		{"name with control character", `
workers: [{name: w}]
builders:
  - {name: "a\x07b", workers: [w]}
`, []want{{"builders[0].name", 3, `builder name "a\ab" contains a control character`}}},
		{"builder name starting with underscore", `
workers: [{name: w}]
builders:
  - {name: _b, workers: [w]}
`, []want{{"builders[0].name", 3, `builder name "_b" must not start with "_"`}}},
		{"worker name not an identifier", `
workers:
  - name: 1st
`, []want{{"workers[0].name", 2, `worker name "1st" must start with a letter`}}},
		{"worker name longer than 50", `
workers:
  - name: ` + strings.Repeat("w", 51) + `
`, []want{{"workers[0].name", 2, `is longer than 50 characters`}}},
		{"reserved worker name", `
workers:
  - name: status
`, []want{{"workers[0].name", 2, `worker name "status" is reserved`}}},
		{"worker names", `
workers: [{name: _a}, {name: -b}, {name: c.d-e_9}, {name: ` + strings.Repeat("w", 50) + `}]
`, nil},

		// Listen addresses.
		{"listen address without port", `
listen:
  www: localhost
`, []want{{"listen.www", 2, `listen.www "localhost" is not host:port`}}},
		{"listen address without host", `
listen:
  remote: ":9989"
`, []want{{"listen.remote", 2, `listen.remote ":9989" has no host`}}},
		{"listen port 0: the system picks, so never a collision", `
listen:
  remote: 127.0.0.1:0
  www: 127.0.0.1:0
  debug: 0.0.0.0:0
`, nil},
		// HTTP bounds.
		{"http bounds negative or zero", `
http:
  max_body_bytes: -1
  max_connections: -2
  read_header_timeout: 0s
  idle_timeout: 0s
`, []want{
			{"http.max_body_bytes", 2, `max_body_bytes is -1; it must be at least 1`},
			{"http.max_connections", 3, `max_connections is -2; it must be at least 1`},
			{"http.read_header_timeout", 4, `read_header_timeout must be positive`},
			{"http.idle_timeout", 5, `idle_timeout must be positive`},
		}},
		{"http bounds of zero are refused, not taken for the default", `
http:
  max_body_bytes: 0
  max_connections: 0
`, []want{
			{"http.max_body_bytes", 2, `max_body_bytes is 0; it must be at least 1 (leave it out for the default, 1 MiB)`},
			{"http.max_connections", 3, `max_connections is 0; it must be at least 1 (leave it out for the default)`},
		}},
		{"workers_max_unauthenticated of zero is refused, not taken for the default", `
listen:
  workers_max_unauthenticated: 0
`, []want{{"listen.workers_max_unauthenticated", 2, `workers_max_unauthenticated is 0; it must be at least 1 (leave it out for the default)`}}},
		{"workers_max_unauthenticated", `
listen: {workers_max_unauthenticated: 1}
`, nil},
		{"http bounds", `
http: {max_body_bytes: 5, max_connections: 3, read_header_timeout: 1s, read_timeout: 2s, write_timeout: 3s, idle_timeout: 4s}
`, nil},
		{"listen port too big", `
listen:
  debug: 127.0.0.1:65536
`, []want{{"listen.debug", 2, `has port "65536"`}}},
		{"listen port by name", `
listen:
  debug: 127.0.0.1:http
`, []want{{"listen.debug", 2, `has port "http"`}}},
		{"listen host invalid", `
listen:
  www: "exa mple:80"
`, []want{{"listen.www", 2, `has an invalid host "exa mple"`}}},
		{"two listeners on one port", `
listen:
  www: 127.0.0.1:8010
  debug: 127.0.0.1:8010
`, []want{{"listen.debug", 3, `listen.www and listen.debug both use port 8010`}}},
		{"unspecified host collides with any host", `
listen:
  remote: 0.0.0.0:7000
  www: 10.1.2.3:7000
`, []want{{"listen.www", 3, `listen.remote and listen.www both use port 7000`}}},
		{"listener colliding with a default", `
listen:
  www: 127.0.0.1:8012
`, []want{{"listen.www", 2, `listen.remote and listen.www both use port 8012`}}},
		{"listener colliding with the PB workers' default", `
listen:
  www: 127.0.0.1:9989
`, []want{{"listen.www", 2, `listen.www and listen.workers_pb both use port 9989 (listen.workers_pb is 127.0.0.1:9989 by default)`}}},
		{"default colliding with a later listener", `
listen:
  remote: 127.0.0.1:8011
`, []want{{"listen.remote", 2, `listen.remote and listen.debug both use port 8011 (listen.debug is 127.0.0.1:8011 by default)`}}},
		{"listeners on one port, different hosts", `
listen:
  remote: 127.0.0.1:7000
  www: 127.0.0.2:7000
  debug: "[::1]:7000"
`, nil},
		{"listeners by host name and IPv6", `
listen:
  remote: build.example.com:9989
  www: "[::]:8080"
`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrors(t, loadErrors(t, tt.yaml), tt.wants...)
		})
	}
}

func TestValidateCron(t *testing.T) {
	tests := []struct {
		cron string
		msg  string // "" when valid
	}{
		{"* * * * *", ""},
		{"0 3 * * 1-5", ""},
		{"*/15 0,12 1-31/2 1,6-12 0-7", ""},
		{"59 23 31 12 7", ""},
		{"* * *", `has 3 fields, want 5`},
		{"* * * * * *", `has 6 fields, want 5`},
		{"60 * * * *", `minute field "60": 60 is out of range 0-59`},
		{"* 24 * * *", `hour field "24": 24 is out of range 0-23`},
		{"* * 0 * *", `day-of-month field "0": 0 is out of range 1-31`},
		{"* * * 13 *", `month field "13": 13 is out of range 1-12`},
		{"* * * * 8", `day-of-week field "8": 8 is out of range 0-7`},
		{"*/0 * * * *", `minute field "*/0": step "0" is not a number from 1 to 59`},
		{"5/15 * * * *", `minute field "5/15": a step needs * or a range before it`},
		{"* 5-1 * * *", `hour field "5-1": range "5-1" runs backwards`},
		{"* 1,,2 * * *", `hour field "1,,2": "" is not a number`},
		{"* * * jan *", `month field "jan": "jan" is not a number`},
		{"-1 * * * *", `minute field "-1": "" is not a number`},
		{"0 3 * * 07", ""},
		{"0 3 * * 5-7/2", ""},
		{"0 0 29 2 *", ""},
		{"0 0 30 2 *", `never comes: no month it names has day-of-month "30"`},
		{"0 0 31 4,6 *", `never comes: no month it names has day-of-month "31"`},
	}
	for _, tt := range tests {
		t.Run(tt.cron, func(t *testing.T) {
			errs := loadErrors(t, base+"\n  - {name: n, type: nightly, builders: [b], cron: \""+tt.cron+"\"}")
			if tt.msg == "" {
				checkErrors(t, errs)
				return
			}
			checkErrors(t, errs, want{"schedulers[1].cron", 5, `invalid cron "` + tt.cron + `": ` + tt.msg})
		})
	}
}

// Validate works without a Source (a config that arrived as a message):
// errors have paths but no lines.
func TestValidateWithoutSource(t *testing.T) {
	cfg := &messages.MasterConfig{
		Workers: []*messages.WorkerConfig{{Name: "w", MissingTimeout: durationpb.New(-1)}},
		Builders: []*messages.BuilderConfig{{Name: "b", Workers: []string{"x"}, Steps: []*messages.StepConfig{{
			Kind: &messages.StepConfig_Shell{Shell: &messages.ShellStep{Script: "make", DecodeRc: map[int32]messages.StepResult{1: 0, 2: 42}}},
		}}}},
		Schedulers: []*messages.SchedulerConfig{{
			Name: "s", Type: messages.SchedulerType(42), Builders: []string{"b"},
		}},
	}
	errs := Validate(cfg, nil)
	got := errs.Error()
	for _, want := range []string{
		`builders[0].workers[0]: builder "b" uses unknown worker "x"`,
		`schedulers[0].type: scheduler "s" has unknown type 42`,
		`workers[0].missing_timeout: duration -1ns is negative or out of range`,
		`builders[0].steps[0].shell.decode_rc.1: exit code 1 maps to no result; use one of success, warnings, failure`,
		`builders[0].steps[0].shell.decode_rc.2: exit code 2 maps to no result`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q:\n%s", want, got)
		}
	}
	for _, e := range errs {
		if e.Line != 0 || e.File != "" {
			t.Errorf("error %v has a position without a Source", e)
		}
	}
	if errs := Validate(nil, nil); errs != nil {
		t.Errorf("Validate(nil) = %v", errs)
	}
}

// Validation errors under a key the decoder rejected are dropped: they would
// only repeat the decoding error.
func TestLoadSuppressesFollowUpErrors(t *testing.T) {
	errs := loadErrors(t, `
workers: [{name: w}]
builders:
  - name: b
    workers: w
schedulers:
  - {name: s, type: forced, builders: [b]}
`)
	checkErrors(t, errs,
		want{"builders[0].workers", 4, "expected a list, got a string"},
		want{"schedulers[0].type", 6, `unknown type "forced"`},
	)
}
