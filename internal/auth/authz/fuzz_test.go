package authz

import (
	"errors"
	"slices"
	"testing"

	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/auth"
	"github.com/buildmaster/buildmaster/messages"
)

// FuzzCheck: any www.authz the config accepts (its rules' patterns
// included) decides any request without a panic: the admin token passes,
// a refusal names the role of a default-deny rule the request matched,
// and anonymous holds no role.
func FuzzCheck(f *testing.F) {
	f.Add(`{roles: [{from: username, role: admins, users: [alice]}, {from: groups, prefix: "team-"}], allow: [{endpoint: force, builder: "release-*", role: admins}, {endpoint: control, role: "dev*"}]}`,
		"alice", "team-devs", "release-1", "main", int8(1))
	f.Add(`{roles: [{from: owner, role: owner}], allow: [{endpoint: stop, builder: "*", role: owner, default_deny: false}, {endpoint: view, branch: "private/*", role: "["}]}`,
		"bob", "", "app", "private/x", int8(2))
	f.Add(`{allow: [{endpoint: enable_scheduler, scheduler: "[a-", role: ops}, {endpoint: any, role: "*"}]}`, "", "", "", "", int8(4))
	actions := []string{View, Force, Stop, Rebuild, Enable, Control, ViewBuild}
	f.Fuzz(func(t *testing.T, authz, name, group, builder, branch string, action int8) {
		cfg, err := config.Load("fuzz.yaml", []byte("www:\n  authz: "+authz+"\n"))
		if err != nil {
			return
		}
		az := cfg.GetWww().GetAuthz()
		req := Request{Action: actions[int(uint8(action))%len(actions)], Builder: builder, Branch: branch, Scheduler: builder, Owner: name}
		if err := Check(az, auth.Caller{Admin: true, Name: auth.AdminName}, req); err != nil {
			t.Fatalf("the admin refused: %v", err)
		}
		if r := Roles(az, auth.Caller{}, name); r != nil {
			t.Fatalf("anonymous holds roles %q", r)
		}
		c := auth.Caller{Name: name, Groups: []string{group}, Email: name + "@x.org"}
		err = Check(az, c, req)
		if err == nil {
			return
		}
		var d *Denied
		if !errors.As(err, &d) || !slices.ContainsFunc(az.GetAllow(), func(rule *messages.AllowRuleConfig) bool {
			return rule.GetRole() == d.Role && matches(rule, req) && (rule.DefaultDeny == nil || rule.GetDefaultDeny())
		}) {
			t.Fatalf("refused with %v, by no matching rule of %v", err, az)
		}
	})
}
