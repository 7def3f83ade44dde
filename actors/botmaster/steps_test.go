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

// TestLogLinesAnySplit: output cut into updates anywhere makes the same
// lines as in one piece, with lines longer than MaxLineBytes and
// characters cut by the updates.
func TestLogLinesAnySplit(t *testing.T) {
	long := strings.Repeat("é", 2*MaxLineBytes) // 2 bytes each
	text := "short\n" + long + "x\n" + long[:MaxLineBytes-1] + "\n\nend " + long[:3*MaxLineBytes+1]
	whole := &logLines{}
	whole.add(stdout, []byte(text))
	whole.flush()
	for _, step := range []int{1, 7, 1000, MaxLineBytes - 1, MaxLineBytes, MaxLineBytes + 3, 3 * MaxLineBytes} {
		l := &logLines{}
		for i := 0; i < len(text); i += step {
			l.add(stdout, []byte(text[i:min(i+step, len(text))]))
		}
		l.flush()
		if l.out.String() != whole.out.String() {
			t.Fatalf("in pieces of %d: %d bytes of lines, in one piece %d", step, l.out.Len(), whole.out.Len())
		}
	}
}

// TestCommandOutputCopiesOnce: a command's stdout, 64 KiB at a time with
// a line left open at each end, allocates nothing once the buffers are
// made: its lines are copied once (into the lines written out), the open
// line and the last tailBytes kept in buffers of their own. Before, each
// update was copied whole into the open line's buffer and the tail's.
func TestCommandOutputCopiesOnce(t *testing.T) {
	data := []byte(strings.Repeat("a line of a compiler's output, quite ordinary\n", (64<<10)/46) + "an open line ")
	o := &commandOutput{id: "1.1"}
	allocs := testing.AllocsPerRun(50, func() {
		o.add(stdout, data)
		o.lines.out.Reset()
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per update, want 0", allocs)
	}
	want := string(data[len(data)-tailBytes:])
	if string(o.tail) != want {
		t.Errorf("stdout kept: %q…, want %q…", o.tail[:40], want[:40])
	}
}

// TestAppendTail: the last n bytes are kept, whichever of tail and data
// they come from.
func TestAppendTail(t *testing.T) {
	for _, c := range []struct{ tail, data, want string }{
		{"", "abc", "abc"},
		{"ab", "cd", "bcd"},
		{"abc", "", "abc"},
		{"abc", "defg", "efg"},
		{"a", "bcdef", "def"},
	} {
		if got := appendTail([]byte(c.tail), []byte(c.data), 3); string(got) != c.want {
			t.Errorf("appendTail(%q, %q, 3) = %q, want %q", c.tail, c.data, got, c.want)
		}
	}
}
