package config

import (
	"net/url"
	"path"

	"github.com/buildmaster/buildmaster/internal/auth"
	"github.com/buildmaster/buildmaster/messages"
)

// secretsAndWww checks the secret providers and www's auth and authz.
func (v *validator) secretsAndWww(cfg *messages.MasterConfig) {
	for i, p := range cfg.GetSecrets() {
		switch p.GetType() {
		case messages.SecretProviderType_SECRET_PROVIDER_TYPE_UNSPECIFIED:
			v.errorf(at("secrets", i, ".type"), "a secret provider needs a type: dir, env or vault")
		case messages.SecretProviderType_SECRET_PROVIDER_TYPE_DIR:
			if p.GetPath() == "" {
				v.errorf(at("secrets", i, ".path"), "a dir secret provider needs a path")
			}
		case messages.SecretProviderType_SECRET_PROVIDER_TYPE_VAULT:
			if u, err := url.Parse(p.GetUrl()); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.errorf(at("secrets", i, ".url"), "a vault secret provider needs an http(s) url")
			}
		}
	}
	a := cfg.GetWww().GetAuth()
	switch a.GetType() {
	case messages.WwwAuthType_WWW_AUTH_TYPE_USERPASS:
		seen := map[string]bool{}
		for i, u := range a.GetUsers() {
			if u.GetUsername() == "" || u.GetPassword() == "" {
				v.errorf(at("www.auth.users", i, ""), "a user needs a username and a password")
			}
			if seen[u.GetUsername()] {
				v.errorf(at("www.auth.users", i, ".username"), "user %q is listed twice", u.GetUsername())
			}
			seen[u.GetUsername()] = true
		}
	case messages.WwwAuthType_WWW_AUTH_TYPE_HTPASSWD:
		if a.GetFile() == "" {
			v.errorf("www.auth.file", "htpasswd auth needs a file")
		}
	case messages.WwwAuthType_WWW_AUTH_TYPE_REMOTE_USER:
		if len(a.GetTrustedProxies()) == 0 {
			v.errorf("www.auth.trusted_proxies", "remote_user auth needs the addresses of the proxies trusted to set the header")
		}
		for i, p := range a.GetTrustedProxies() {
			if _, err := auth.ParseProxy(p); err != nil {
				v.errorf(at("www.auth.trusted_proxies", i, ""), "%v", err)
			}
		}
	case messages.WwwAuthType_WWW_AUTH_TYPE_OAUTH2:
		o := a.GetOauth2()
		for _, f := range []struct{ key, val string }{{"auth_url", o.GetAuthUrl()}, {"token_url", o.GetTokenUrl()},
			{"userinfo_url", o.GetUserinfoUrl()}, {"redirect_url", o.GetRedirectUrl()}} {
			if u, err := url.Parse(f.val); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.errorf("www.auth.oauth2."+f.key, "oauth2 auth needs %s, an http(s) URL", f.key)
			}
		}
		if o.GetClientId() == "" {
			v.errorf("www.auth.oauth2.client_id", "oauth2 auth needs a client_id")
		}
	}
	for i, r := range cfg.GetWww().GetAuthz().GetRoles() {
		switch r.GetFrom() {
		case messages.RoleSource_ROLE_SOURCE_UNSPECIFIED:
			v.errorf(at("www.authz.roles", i, ".from"), "a role matcher needs from: groups, emails, domain, username or owner")
		case messages.RoleSource_ROLE_SOURCE_GROUPS:
		default:
			if r.GetRole() == "" {
				v.errorf(at("www.authz.roles", i, ".role"), "a role matcher needs the role it gives")
			}
		}
	}
	for i, r := range cfg.GetWww().GetAuthz().GetAllow() {
		if r.GetEndpoint() == messages.EndpointKind_ENDPOINT_KIND_UNSPECIFIED {
			v.errorf(at("www.authz.allow", i, ".endpoint"), "an allow rule needs an endpoint: any, control, force, stop, rebuild, enable_scheduler or view")
		}
		if r.GetRole() == "" {
			v.errorf(at("www.authz.allow", i, ".role"), "an allow rule needs a role")
		}
		for _, p := range []struct{ key, val string }{{"role", r.GetRole()}, {"builder", r.GetBuilder()}, {"branch", r.GetBranch()},
			{"project", r.GetProject()}, {"scheduler", r.GetScheduler()}} {
			if _, err := path.Match(p.val, ""); err != nil {
				v.errorf(at("www.authz.allow", i, "."+p.key), "bad pattern %q: %v", p.val, err)
			}
		}
	}
}
