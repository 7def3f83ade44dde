// Package authz decides what a user may do: Buildbot's Authz. Role
// matchers give a user roles; allow rules are tried in order, and the
// first whose endpoint matcher matches a request decides it: allowed if the
// user holds the rule's role (a glob over role names), else refused with
// "you need to have role 'X'" — unless the rule says default_deny: false,
// when the next rule is tried. No matching rule allows.
//
// It is pure: the caller describes each request (Request), looking up
// what the rules match on (a build's builder, branch, project, owner), and
// reads the rules in force on every call, so a lost role takes effect on
// the next request.
package authz

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/buildmaster/buildmaster/internal/auth"
	"github.com/buildmaster/buildmaster/messages"
)

// Actions a Request may ask for ("" is viewing).
const (
	View      = ""
	Force     = "force"
	Stop      = "stop"
	Rebuild   = "rebuild"
	Enable    = "enable"    // enabling or disabling a scheduler
	Control   = "control"   // any other state-changing request
	ViewBuild = "viewbuild" // viewing one build, its steps or logs
)

// Request is one thing a user asks to do, with what the rules match on.
type Request struct {
	Action    string
	Builder   string
	Branch    string
	Project   string
	Scheduler string
	// Owner is who forced the build concerned (its buildset's owner
	// property), for RolesFromOwner.
	Owner string
}

// Denied is the refusal of a request: the role the deciding rule needs.
type Denied struct{ Role string }

func (d *Denied) Error() string { return fmt.Sprintf("you need to have role '%s'", d.Role) }

// Check decides req for c under cfg: nil, or a *Denied. The admin token may
// do everything.
func Check(cfg *messages.AuthzConfig, c auth.Caller, req Request) error {
	if c.Admin {
		return nil
	}
	var roles []string
	rolesDone := false
	for _, rule := range cfg.GetAllow() {
		if !matches(rule, req) {
			continue
		}
		if !rolesDone {
			roles, rolesDone = Roles(cfg, c, req.Owner), true
		}
		if slices.ContainsFunc(roles, func(r string) bool { ok, _ := path.Match(rule.GetRole(), r); return ok }) {
			return nil
		}
		if rule.DefaultDeny == nil || rule.GetDefaultDeny() {
			return &Denied{Role: rule.GetRole()}
		}
	}
	return nil
}

// Roles returns the roles of c (owner: the owner of the build concerned).
func Roles(cfg *messages.AuthzConfig, c auth.Caller, owner string) []string {
	if c.Name == "" {
		return nil
	}
	var roles []string
	domain := ""
	if _, d, ok := strings.Cut(c.Email, "@"); ok {
		domain = d
	}
	for _, m := range cfg.GetRoles() {
		switch m.GetFrom() {
		case messages.RoleSource_ROLE_SOURCE_GROUPS:
			for _, g := range c.Groups {
				if r, ok := strings.CutPrefix(g, m.GetPrefix()); ok && r != "" {
					roles = append(roles, r)
				}
			}
		case messages.RoleSource_ROLE_SOURCE_EMAILS:
			if c.Email != "" && slices.Contains(m.GetEmails(), c.Email) {
				roles = append(roles, m.GetRole())
			}
		case messages.RoleSource_ROLE_SOURCE_DOMAIN:
			if domain != "" && slices.Contains(m.GetDomains(), domain) {
				roles = append(roles, m.GetRole())
			}
		case messages.RoleSource_ROLE_SOURCE_USERNAME:
			if slices.Contains(m.GetUsers(), c.Name) {
				roles = append(roles, m.GetRole())
			}
		case messages.RoleSource_ROLE_SOURCE_OWNER:
			if owner != "" && (owner == c.Name || (c.Email != "" && owner == c.Email)) {
				roles = append(roles, m.GetRole())
			}
		}
	}
	return roles
}

// matches says whether rule's endpoint matcher matches req.
func matches(rule *messages.AllowRuleConfig, req Request) bool {
	glob := func(pat, v string) bool {
		if pat == "" {
			return true
		}
		ok, _ := path.Match(pat, v)
		return ok
	}
	switch rule.GetEndpoint() {
	case messages.EndpointKind_ENDPOINT_KIND_ANY:
		return true
	case messages.EndpointKind_ENDPOINT_KIND_CONTROL:
		return req.Action != View && req.Action != ViewBuild
	case messages.EndpointKind_ENDPOINT_KIND_FORCE:
		return req.Action == Force && glob(rule.GetBuilder(), req.Builder)
	case messages.EndpointKind_ENDPOINT_KIND_STOP:
		return req.Action == Stop && glob(rule.GetBuilder(), req.Builder)
	case messages.EndpointKind_ENDPOINT_KIND_REBUILD:
		return req.Action == Rebuild && glob(rule.GetBuilder(), req.Builder)
	case messages.EndpointKind_ENDPOINT_KIND_ENABLE_SCHEDULER:
		return req.Action == Enable && glob(rule.GetScheduler(), req.Scheduler)
	case messages.EndpointKind_ENDPOINT_KIND_VIEW:
		return req.Action == ViewBuild && glob(rule.GetBuilder(), req.Builder) &&
			glob(rule.GetBranch(), req.Branch) && glob(rule.GetProject(), req.Project)
	}
	return false
}
