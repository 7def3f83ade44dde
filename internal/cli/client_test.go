package cli

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/config"
)

// TestEnvironmentGivesTheDefaults: $BUILDMASTER_MASTER and $BUILDMASTER_WWW
// are the defaults of --master and --www in every client command; a flag
// given overrides them.
func TestEnvironmentGivesTheDefaults(t *testing.T) {
	for _, tc := range []struct {
		master, www         string // the environment
		wantMaster, wantWWW string
	}{
		{"", "", config.DefaultRemoteAddr, "http://" + config.DefaultWWWAddr},
		{"10.0.0.1:9989", "http://10.0.0.1:8010", "10.0.0.1:9989", "http://10.0.0.1:8010"},
	} {
		t.Setenv(MasterEnv, tc.master)
		t.Setenv(WWWEnv, tc.www)
		root := NewRoot(&bytes.Buffer{}, &bytes.Buffer{})
		for _, c := range root.Commands() {
			if f := c.Flags().Lookup("master"); f != nil && f.DefValue != tc.wantMaster {
				t.Errorf("%s --master defaults to %q with $%s=%q, want %q", c.Name(), f.DefValue, MasterEnv, tc.master, tc.wantMaster)
			}
			if f := c.Flags().Lookup("www"); f != nil && f.DefValue != tc.wantWWW {
				t.Errorf("%s --www defaults to %q with $%s=%q, want %q", c.Name(), f.DefValue, WWWEnv, tc.www, tc.wantWWW)
			}
		}
		for _, name := range []string{"builds", "logs", "force"} {
			if c, _, err := root.Find([]string{name}); err != nil || c.Flags().Lookup("www") == nil {
				t.Errorf("%s has no --www flag (%v)", name, err)
			}
		}
	}
}

// TestBadArgumentsAskNoMaster: malformed BUILD arguments and flags are
// refused (exit 1) with what was wrong, before anything is asked of a
// master.
func TestBadArgumentsAskNoMaster(t *testing.T) {
	t.Setenv(WWWEnv, "http://127.0.0.1:1") // nothing is asked of it
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logs", "hello/"}, `BUILD "hello/": want a build id or BUILDER/NUMBER`},
		{[]string{"logs", "/3"}, `BUILD "/3": want a build id or BUILDER/NUMBER`},
		{[]string{"logs", "hello/0"}, `BUILD "hello/0"`},
		{[]string{"logs", "-1"}, `unknown shorthand flag`},
		{[]string{"logs", "abc"}, `BUILD "abc"`},
		{[]string{"builds", "--limit", "0"}, `--limit 0: want at least 1`},
		{[]string{"builds", "--www", "ftp://x"}, `--www "ftp://x": want a URL`},
		{[]string{"version", "extra"}, `unknown command "extra"`},
	} {
		var out, errOut bytes.Buffer
		if code := Main(tc.args, &out, &errOut); code != ExitRejected || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}

func TestWriteVersion(t *testing.T) {
	for _, tc := range []struct {
		settings []debug.BuildSetting
		want     string
	}{
		{nil, "buildmaster (devel) go1.26.0\n"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-05T20:00:00Z"}},
			"buildmaster (devel) (commit 0123456789ab, 2026-12-05T20:00:00Z) go1.26.0\n"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}},
			"buildmaster (devel) (commit abc+modified) go1.26.0\n"},
	} {
		var b bytes.Buffer
		writeVersion(&b, &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: tc.settings})
		if b.String() != tc.want {
			t.Errorf("got %q, want %q", b.String(), tc.want)
		}
	}
}
