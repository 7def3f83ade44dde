package config

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/messages"
)

func parseErrors(t *testing.T, text string) Errors {
	t.Helper()
	_, _, err := Parse("test.yaml", []byte(strings.TrimPrefix(text, "\n")))
	if err == nil {
		return nil
	}
	return err.(Errors)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		wants []want
	}{
		{"unknown top-level key with suggestion", `
titel: x
`, []want{{"titel", 1, `unknown key "titel"; did you mean "title"?`}}},
		{"unknown key lists the allowed keys", `
listen:
  http: x
`, []want{{"listen.http", 2, `unknown key "http"; allowed keys: remote, www, debug`}}},
		{"camelCase key suggests the snake_case one", `
workers:
  - name: w
    maxBuilds: 2
`, []want{{"workers[0].maxBuilds", 3, `did you mean "max_builds"?`}}},
		{"unknown key deep down", `
builders:
  - name: b
    steps:
      - shell:
          comand: [x]
`, []want{{"builders[0].steps[0].shell.comand", 5, `did you mean "command"?`}}},
		{"list where a mapping is wanted", `
listen: [a, b]
`, []want{{"listen", 1, "expected a mapping (key: value), got a list"}}},
		{"mapping where a list is wanted", `
workers: {name: w}
`, []want{{"workers", 1, "expected a list, got a mapping"}}},
		{"scalar where a list element mapping is wanted", `
workers:
  - w1
`, []want{{"workers[0]", 2, "expected a mapping (key: value), got a string"}}},
		{"list where a string is wanted", `
title: [a]
`, []want{{"title", 1, "expected a string, got a list"}}},
		{"mapping where a list element string is wanted", `
builders:
  - workers:
      - {name: w}
`, []want{{"builders[0].workers[0]", 3, "expected a string, got a mapping"}}},
		{"top level is not a mapping", `
- a
`, []want{{"", 1, "expected a mapping (key: value) at the top level, got a list"}}},
		{"bad bool", `
debug: {actions: yes}
`, []want{{"debug.actions", 1, `expected true or false, got "yes"`}}},
		{"bad int", `
workers: [{name: w, max_builds: 1.5}]
`, []want{{"workers[0].max_builds", 1, `expected an integer from -2147483648 to 2147483647, got "1.5"`}}},
		{"int out of int32 range", `
caches: {Builds: 2147483648}
`, []want{{"caches.Builds", 1, `got "2147483648"`}}},
		{"quoted int", `
supervision: {max_restarts: "3"}
`, []want{{"supervision.max_restarts", 1, `got "3"`}}},
		{"bad duration", `
metrics: {log_interval: 60}
`, []want{{"metrics.log_interval", 1, `expected a duration such as 30s, 1m30s, 1h or 30d, got "60"`}}},
		{"bad duration unit", `
supervision:
  within: 5 minutes
`, []want{{"supervision.within", 2, `got "5 minutes"`}}},
		{"negative duration", `
workers: [{name: w, missing_timeout: -1m}]
`, []want{{"workers[0].missing_timeout", 1, `duration -1m is negative`}}},
		{"duration as a mapping", `
metrics: {log_interval: {seconds: 5}}
`, []want{{"metrics.log_interval", 1, `expected a duration such as 30s, 1m30s, 1h or 30d, got a mapping`}}},
		{"unknown enum with suggestion", `
schedulers: [{type: singlebranch}]
`, []want{{"schedulers[0].type", 1, `unknown type "singlebranch"; allowed: force, single_branch, any_branch, periodic, nightly, triggerable, dependent (did you mean "single_branch"?)`}}},
		{"enum in upper case", `
schedulers: [{type: FORCE}]
`, []want{{"schedulers[0].type", 1, `unknown type "FORCE"`}}},
		{"enum with its prefix", `
schedulers: [{type: SCHEDULER_TYPE_FORCE}]
`, []want{{"schedulers[0].type", 1, `unknown type "SCHEDULER_TYPE_FORCE"`}}},
		{"unspecified enum value", `
schedulers: [{type: unspecified}]
`, []want{{"schedulers[0].type", 1, `unknown type "unspecified"`}}},
		{"duplicate key", `
title: a
title: b
`, []want{{"title", 2, `duplicate key "title" (first at line 1)`}}},
		{"duplicate map key", `
caches:
  Builds: 1
  Changes: 2
  Builds: 3
`, []want{{"caches.Builds", 4, `duplicate key "Builds" (first at line 2)`}}},
		{"two members of a oneof", `
builders:
  - steps:
      - shell: {command: [a]}
        git: {repo_url: b}
`, []want{{"builders[0].steps[0].git", 4, `only one of shell, git, set_property, trigger, file_upload, directory_upload, file_download, string_download, make_directory, remove_directory may be set; shell is already set at line 3`}}},
		{"two members of a change source oneof", `
change_sources:
  - name: c
    change_hook: {dialect: base}
    git_poller: {repo_url: /r}
`, []want{{"change_sources[0].git_poller", 4, `only one of git_poller, change_hook may be set; change_hook is already set at line 3`}}},
		{"alias", `
workers:
  - &w {name: w}
  - *w
`, []want{{"workers[1]", 3, `YAML aliases are not supported`}}},
		{"merge key", `
workers:
  - name: w
    <<: {max_builds: 1}
`, []want{{"workers[0]", 3, `YAML merge keys (<<) are not supported`}}},
		{"null key", `
~: x
`, []want{{"", 1, `a key must not be null`}}},
		{"complex key", `
? [a]
: x
`, []want{{"", 1, `a key must be a plain string, got a list`}}},
		{"syntax error", `
title: x
listen:
  www: [
`, []want{{"", 4, `YAML syntax error: did not find expected node content`}}},
		{"syntax error in a block mapping", `
title: x
debug: {}
- x
`, []want{{"", 3, `YAML syntax error: did not find expected key`}}},
		{"unclosed flow list", `
title: x
workers: [a, b
debug: {}
`, []want{{"", 2, `YAML syntax error: did not find expected ',' or ']'`}}},
		{"tab indentation", "listen:\n\twww: x\n", []want{{"", 2, `YAML syntax error: found character that cannot start any token`}}},
		{"two documents", `
title: a
---
title: b
`, []want{{"", 2, `a config file holds one YAML document; found a second one`}}},
		{"errors everywhere are all reported", `
titel: x
listen: {www: [x]}
workers:
  - name: w
    max_builds: many
    missing_timeout: soon
schedulers:
  - type: sometimes
`, []want{
			{"titel", 1, `unknown key "titel"`},
			{"listen.www", 2, `expected a string, got a list`},
			{"workers[0].max_builds", 5, `got "many"`},
			{"workers[0].missing_timeout", 6, `got "soon"`},
			{"schedulers[0].type", 8, `unknown type "sometimes"`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrors(t, parseErrors(t, tt.yaml), tt.wants...)
		})
	}
}

// A secret value never appears in an error, whatever is wrong with it.
func TestParseNeverShowsSecrets(t *testing.T) {
	for _, text := range []string{
		"workers: [{name: w, password: [hunter2]}]",
		"workers: [{name: w, password: {hunter2: x}}]",
		"change_sources: [{name: c, change_hook: {secret: [hunter2], dialect: x}}]",
		"change_sources: [{name: c, change_hook: {secret: hunter2, secret: hunter2}}]",
		"workers: [{name: w, password: hunter2, pasword: hunter2}]",
	} {
		_, err := Load("test.yaml", []byte(text))
		if err == nil {
			t.Fatalf("%s: no error", text)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error shows the secret:\n%v", text, err)
		}
	}
}

func TestParseValues(t *testing.T) {
	cfg, src, err := Parse("test.yaml", []byte(strings.TrimPrefix(`
title: 1.0
workers:
  - name: w
    password: 12345
    max_builds: 0x10
    missing_timeout: 1h30m
    properties: {a.b: "x", "": empty}
builders:
  - name: b
    collapse_requests: true
    workers: [w, ~]
    steps:
      - name: ~
        shell: {command: [echo, "yes", 1, true], timeout: 0s}
      - ~
schedulers:
  - {name: s, type: single_branch, tree_stable_timer: 90s}
caches:
  Builds: 1_000
  Changes: ~
listen:
debug: ~
`, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	want := &messages.MasterConfig{
		Title: "1.0",
		Workers: []*messages.WorkerConfig{{
			Name: "w", Password: "12345", MaxBuilds: 16,
			MissingTimeout: durationpb.New(90 * time.Minute),
			Properties:     map[string]string{"a.b": "x", "": "empty"},
		}},
		Builders: []*messages.BuilderConfig{{
			Name: "b", CollapseRequests: proto.Bool(true), Workers: []string{"w", ""},
			Steps: []*messages.StepConfig{
				{Kind: &messages.StepConfig_Shell{Shell: &messages.ShellStep{
					Command: []string{"echo", "yes", "1", "true"}, Timeout: durationpb.New(0),
				}}},
				{},
			},
		}},
		Schedulers: []*messages.SchedulerConfig{{
			Name: "s", Type: messages.SchedulerType_SCHEDULER_TYPE_SINGLE_BRANCH,
			TreeStableTimer: durationpb.New(90 * time.Second),
		}},
		Caches: map[string]int32{"Builds": 1000},
	}
	if !proto.Equal(cfg, want) {
		t.Errorf("Parse =\n%v\nwant\n%v", cfg, want)
	}
	for path, line := range map[string]int{
		"":                                   1,
		"title":                              1,
		"workers[0]":                         3,
		"workers[0].missing_timeout":         6,
		`workers[0].properties["a.b"]`:       7,
		`workers[0].properties[""]`:          7,
		"builders[0].workers[1]":             11,
		"builders[0].steps[0].shell.command": 14,
		"builders[0].steps[1]":               15,
		"builders[0].steps[1].git":           15, // not written: its nearest ancestor
		"schedulers[0].type":                 17,
		"caches.Builds":                      19,
		"listen":                             21,
		"listen.www":                         21,
		"nowhere.at.all":                     1,
	} {
		if got, _ := src.Pos(path); got != line {
			t.Errorf("Pos(%q) = line %d, want %d", path, got, line)
		}
	}
	if line, col := src.Pos("workers[0].max_builds"); line != 5 || col != 5 {
		t.Errorf("Pos(workers[0].max_builds) = %d:%d, want 5:5", line, col)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, text := range []string{"", "\n", "# nothing\n", "---\n", "~\n", "---\n...\n"} {
		cfg, src, err := Parse("empty.yaml", []byte(text))
		if err != nil || cfg == nil || src == nil || !proto.Equal(cfg, &messages.MasterConfig{}) {
			t.Errorf("Parse(%q) = %v, %v, %v; want an empty config", text, cfg, src, err)
		}
	}
}

func TestSourceNil(t *testing.T) {
	var src *Source
	if line, col := src.Pos("workers[0]"); line != 0 || col != 0 {
		t.Errorf("nil Pos = %d:%d", line, col)
	}
	e := src.Errorf("workers[0].name", "bad %s", "name")
	if e.Error() != "workers[0].name: bad name" || e.File != "" {
		t.Errorf("nil Errorf = %+v", e)
	}
}

func TestPaths(t *testing.T) {
	for _, tt := range []struct{ parent, key, path string }{
		{"", "title", "title"},
		{"caches", "Builds", "caches.Builds"},
		{"env", "a.b", `env["a.b"]`},
		{"env", "x[1]", `env["x[1]"]`},
		{"env", `q"["`, `env["q\"[\""]`},
		{"env", "a b", `env["a b"]`},
		{"env", "", `env[""]`},
	} {
		if got := fieldPath(tt.parent, tt.key); got != tt.path {
			t.Errorf("fieldPath(%q, %q) = %q, want %q", tt.parent, tt.key, got, tt.path)
		}
		key, index, rest, ok := nextSegment(strings.TrimPrefix(tt.path, tt.parent), tt.parent == "")
		if !ok || key != tt.key || index != -1 || rest != "" {
			t.Errorf("nextSegment(%q) = %q, %d, %q, %v", tt.path, key, index, rest, ok)
		}
	}
	for _, path := range []string{"a[", "a[x]", `a["x`, `a["x"`, "a..b", "[1]"} {
		if line, _ := (&Source{}).Pos(path); line != 0 {
			t.Errorf("Pos(%q) found something", path)
		}
	}
	for _, tt := range []struct {
		path, prefix string
		want         bool
	}{
		{"a.b", "a", true}, {"a[1]", "a", true}, {"a", "a", true}, {"ab", "a", false},
		{"a", "a.b", false}, {"x", "", true},
	} {
		if got := under(tt.path, tt.prefix); got != tt.want {
			t.Errorf("under(%q, %q) = %v", tt.path, tt.prefix, got)
		}
	}
}

// Durations take Go's units and a number of days first.
func TestParseDuration(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"90s": 90 * time.Second, "1h30m": 90 * time.Minute, "30d": 30 * 24 * time.Hour, "1d12h": 36 * time.Hour, "0d": 0,
	} {
		if got, err := parseDuration(s); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"d", "1d-1h", "+1d", "-1d", "1dx", "1.5d", "70000d", "1d1d", ""} {
		if got, err := parseDuration(s); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", s, got)
		}
	}
}
