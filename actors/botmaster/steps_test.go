package botmaster

import (
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

const (
	stdout = messages.OutputStream_OUTPUT_STREAM_STDOUT
	stderr = messages.OutputStream_OUTPUT_STREAM_STDERR
	header = messages.OutputStream_OUTPUT_STREAM_HEADER
)

func TestLogLines(t *testing.T) {
	type chunk struct {
		s messages.OutputStream
		d string
	}
	long := strings.Repeat("x", MaxLineBytes+10)
	for _, c := range []struct {
		name   string
		chunks []chunk
		want   string
	}{
		{"lines by stream", []chunk{{stdout, "a\nb\n"}, {stderr, "err\n"}, {header, "hdr\n"}}, "oa\nob\neerr\nhhdr\n"},
		{"a line split across chunks", []chunk{{stdout, "hel"}, {stdout, "lo\nwor"}, {stdout, "ld"}}, "ohello\noworld\n"},
		{"streams interleaved mid-line", []chunk{{stdout, "out-"}, {stderr, "err\n"}, {stdout, "end\n"}}, "eerr\noout-end\n"},
		{"a character split across chunks", []chunk{{stdout, "caf\xc3"}, {stdout, "\xa9\n"}}, "ocafé\n"},
		{"a line over the limit", []chunk{{stdout, long + "\n"}}, "o" + long[:MaxLineBytes] + "\no" + long[MaxLineBytes:] + "\n"},
		{"unterminated at the end", []chunk{{stderr, "no newline"}}, "eno newline\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := &logLines{}
			for _, ch := range c.chunks {
				l.add(ch.s, []byte(ch.d))
			}
			l.flush()
			if got := l.out.String(); got != c.want {
				t.Fatalf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestCommandResults(t *testing.T) {
	for _, c := range []struct {
		c    *messages.CommandComplete
		want int32
	}{
		{&messages.CommandComplete{Rc: 0}, state.ResultSuccess},
		{&messages.CommandComplete{Rc: 3}, state.ResultFailure},
		{&messages.CommandComplete{Rc: -1}, state.ResultFailure},
		{&messages.CommandComplete{Rc: -1, Error: "workdir missing"}, state.ResultException},
		{&messages.CommandComplete{Rc: -1, Interrupted: true}, state.ResultCancelled},
		{&messages.CommandComplete{Rc: -1, LostConnection: true, Error: "lost"}, state.ResultRetry},
	} {
		if got := commandResults(c.c); got != c.want {
			t.Errorf("%v: %d, want %d", c.c, got, c.want)
		}
	}
}

func TestMerge(t *testing.T) {
	halt := &messages.StepConfig{HaltOnFailure: true}
	warn := &messages.StepConfig{WarnOnFailure: true}
	plain := &messages.StepConfig{}
	for _, c := range []struct {
		name          string
		build, step   int32
		cfg           *messages.StepConfig
		want          int32
		wantTerminate bool
	}{
		{"success", state.ResultSuccess, state.ResultSuccess, plain, state.ResultSuccess, false},
		{"failure flunks", state.ResultSuccess, state.ResultFailure, plain, state.ResultFailure, false},
		{"failure halts", state.ResultSuccess, state.ResultFailure, halt, state.ResultFailure, true},
		{"warn on failure", state.ResultSuccess, state.ResultFailure, warn, state.ResultWarnings, false},
		{"warnings stay", state.ResultSuccess, state.ResultWarnings, plain, state.ResultWarnings, false},
		{"exception stops", state.ResultWarnings, state.ResultException, plain, state.ResultException, true},
		{"retry stops", state.ResultSuccess, state.ResultRetry, plain, state.ResultRetry, true},
		{"cancelled is worst", state.ResultFailure, state.ResultCancelled, plain, state.ResultCancelled, true},
		{"skipped counts least", state.ResultSuccess, state.ResultSkipped, plain, state.ResultSuccess, false},
	} {
		got, term := merge(c.build, false, c.step, c.cfg)
		if got != c.want || term != c.wantTerminate {
			t.Errorf("%s: %d, %v; want %d, %v", c.name, got, term, c.want, c.wantTerminate)
		}
	}
}

func TestInterpolate(t *testing.T) {
	p := properties{}
	p.set("branch", `"main"`, "t")
	p.set("n", `3`, "t")
	p.set("empty", `""`, "t")
	for in, want := range map[string]string{
		"%(prop:branch)s":            "main",
		"b-%(prop:n)s":               "b-3",
		"%(prop:missing)s":           "",
		"%(prop:missing:-dflt)s":     "dflt",
		"%(prop:empty:-dflt)s":       "dflt",
		"%(prop:branch:-dflt)s":      "main",
		"%(prop:branch:+set)s":       "set",
		"%(prop:missing:+set)s":      "",
		"%(prop:missing:~x)s":        "x",
		"no %(kw:x)s interpolation":  "no %(kw:x)s interpolation",
		"%(prop:branch)s/%(prop:n)s": "main/3",
	} {
		if got := p.interpolate(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}
