package authz

import (
	"testing"

	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/auth"
)

func TestCheck(t *testing.T) {
	cfg, err := config.Load("m.yaml", []byte(`
www:
  authz:
    roles:
      - {from: username, role: admins, users: [alice]}
      - {from: groups, prefix: "team-"}
      - {from: emails, role: ops, emails: [olga@x.org]}
      - {from: domain, role: staff, domains: [x.org]}
      - {from: owner, role: owner}
    allow:
      - {endpoint: stop, builder: "*", role: owner, default_deny: false}
      - {endpoint: force, builder: "release-*", role: admins}
      - {endpoint: force, role: "dev*"}
      - {endpoint: enable_scheduler, scheduler: nightly, role: ops}
      - {endpoint: view, builder: secret, role: staff}
      - {endpoint: view, branch: "private/*", role: admins}
      - {endpoint: control, role: admins}
`))
	if err != nil {
		t.Fatal(err)
	}
	az := cfg.GetWww().GetAuthz()
	alice := auth.Caller{Name: "alice"}
	dev := auth.Caller{Name: "bob", Groups: []string{"team-devs", "other"}}
	olga := auth.Caller{Name: "olga", Email: "olga@x.org"}
	anon := auth.Caller{}
	for _, tc := range []struct {
		name string
		c    auth.Caller
		req  Request
		want string // "" allowed, else the role named
	}{
		{"admin stops", alice, Request{Action: Stop, Builder: "b"}, ""},
		{"owner stops their build", dev, Request{Action: Stop, Builder: "b", Owner: "bob"}, ""},
		{"another's build: falls through to control", dev, Request{Action: Stop, Builder: "b", Owner: "carl"}, "admins"},
		{"owner by email", olga, Request{Action: Stop, Builder: "b", Owner: "olga@x.org"}, ""},
		{"release force needs admins", dev, Request{Action: Force, Builder: "release-1"}, "admins"},
		{"admin forces release", alice, Request{Action: Force, Builder: "release-1"}, ""},
		{"group role forces", dev, Request{Action: Force, Builder: "b"}, ""},
		{"anonymous may not force", anon, Request{Action: Force, Builder: "b"}, "dev*"},
		{"ops enable nightly", olga, Request{Action: Enable, Scheduler: "nightly"}, ""},
		{"dev may not enable nightly", dev, Request{Action: Enable, Scheduler: "nightly"}, "ops"},
		{"other scheduler: control", olga, Request{Action: Enable, Scheduler: "s"}, "admins"},
		{"staff view secret", olga, Request{Action: ViewBuild, Builder: "secret"}, ""},
		{"dev may not view secret", dev, Request{Action: ViewBuild, Builder: "secret"}, "staff"},
		{"private branch", olga, Request{Action: ViewBuild, Builder: "b", Branch: "private/x"}, "admins"},
		{"anonymous views the rest", anon, Request{Action: ViewBuild, Builder: "b", Branch: "main"}, ""},
		{"anonymous reads lists", anon, Request{Action: View}, ""},
		{"admin token does all", auth.Caller{Admin: true}, Request{Action: Control}, ""},
		{"worker pause is control", dev, Request{Action: Control}, "admins"},
	} {
		err := Check(az, tc.c, tc.req)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || err.Error() != "you need to have role '"+tc.want+"'"):
			t.Errorf("%s: %v, want role %q", tc.name, err, tc.want)
		}
	}
	if err := Check(nil, anon, Request{Action: Control}); err != nil {
		t.Errorf("no rules: %v", err)
	}
}
