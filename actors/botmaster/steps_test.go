package botmaster

import (
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/secrets"
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

// TestCommandOutputRedacted: a secret value is replaced by <NAME> in the
// log lines and the stdout kept, also when the worker's updates split it,
// and on each stream; what completes the command flushes what was held.
func TestCommandOutputRedacted(t *testing.T) {
	const value = "s3cr3t-value-1234"
	o := &commandOutput{id: "1.1", redactor: secrets.NewRedactor(map[string]string{"tok": value})}
	for _, u := range []*messages.CommandUpdate{
		{CommandId: "1.1", Outputs: []*messages.Output{{Stream: stdout, Data: []byte("token " + value[:5])}}},
		{CommandId: "1.1", Outputs: []*messages.Output{{Stream: stderr, Data: []byte("err " + value + "\n")},
			{Stream: stdout, Data: []byte(value[5:] + " ok\nlast " + value[:9])}}},
		{CommandId: "1.1", Outputs: []*messages.Output{{Stream: stdout, Data: []byte(value[9:])}},
			Kind: &messages.CommandUpdate_Complete{Complete: &messages.CommandComplete{}}},
	} {
		o.take(u)
	}
	o.lines.flush()
	if got, want := o.lines.out.String(), "eerr <tok>\notoken <tok> ok\nolast <tok>\n"; got != want {
		t.Fatalf("log lines %q, want %q", got, want)
	}
	if got, want := string(o.tail), "token <tok> ok\nlast <tok>"; got != want {
		t.Fatalf("stdout kept %q, want %q", got, want)
	}
}
