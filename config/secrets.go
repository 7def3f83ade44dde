package config

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/buildmaster/buildmaster/internal/secrets"
	"github.com/buildmaster/buildmaster/messages"
)

// secretName compiles on first use: its bounded repetition makes a program
// of hundreds of instructions, a tenth of every CLI call's start-up if
// compiled at package init.
var secretName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9._/|-]{1,200}$`) })

func validSecretName(s string) bool { return secretName().MatchString(s) && !strings.Contains(s, "..") }

// SecretRef is the text a secret field holds for `{secret: NAME}`:
// "%(secret:NAME)s", Buildbot's interpolation of a secret. A secret field
// whose whole value is a reference is resolved by ResolveSecrets; one that
// only contains one is a literal.
func SecretRef(name string) string { return "%(secret:" + name + ")s" }

// secretRefName returns the name of the reference s is, if it is one.
func secretRefName(s string) (string, bool) {
	name, ok := strings.CutPrefix(s, "%(secret:")
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, ")s")
	return name, ok && validSecretName(name)
}

// Providers returns the secret providers the config lists, in order.
func Providers(cfg *messages.MasterConfig) ([]secrets.Provider, error) {
	var out []secrets.Provider
	for i, p := range cfg.GetSecrets() {
		where := fmt.Sprintf("secrets[%d]", i)
		var prov secrets.Provider
		var err error
		switch p.GetType() {
		case messages.SecretProviderType_SECRET_PROVIDER_TYPE_DIR:
			prov, err = secrets.NewDir(secrets.DirOptions{Path: p.GetPath()})
		case messages.SecretProviderType_SECRET_PROVIDER_TYPE_ENV:
			prov = &secrets.Env{Prefix: p.GetPrefix()}
		case messages.SecretProviderType_SECRET_PROVIDER_TYPE_VAULT:
			prov, err = secrets.NewVault(secrets.VaultOptions{Addr: p.GetUrl(), Mount: p.GetMount(),
				TokenFile: p.GetTokenFile(), TokenEnv: p.GetTokenEnv()})
		default:
			err = errors.New("no type")
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		out = append(out, prov)
	}
	return out, nil
}

// ResolveSecrets replaces, in cfg, every secret field (or value of a
// secret map, http_push's headers) that holds a reference (SecretRef) by
// the value p gives. It returns the values used, for redaction, and
// every reference it could not resolve, each error naming the field's path
// and the secret, never a value.
func ResolveSecrets(ctx context.Context, cfg *messages.MasterConfig, p secrets.Provider) (secrets.Values, error) {
	var used secrets.Values
	var errs []error
	// resolve returns the value of the reference s, the text of the field
	// at path, if it is one.
	resolve := func(path, s string) (string, bool) {
		ref, ok := secretRefName(s)
		if !ok {
			return "", false
		}
		val, err := p.Get(ctx, ref)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			return "", false
		}
		used.Add(ref, val)
		return val, true
	}
	var walk func(m protoreflect.Message, path string)
	walk = func(m protoreflect.Message, path string) {
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			name := path + string(fd.Name())
			switch {
			case fd.IsList() && fd.Message() != nil:
				for i := range v.List().Len() {
					walk(v.List().Get(i).Message(), fmt.Sprintf("%s[%d].", name, i))
				}
			case fd.IsMap() && isSecret(fd) && fd.MapValue().Kind() == protoreflect.StringKind:
				mp := v.Map()
				var keys []protoreflect.MapKey
				mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
					keys = append(keys, k)
					return true
				})
				slices.SortFunc(keys, func(a, b protoreflect.MapKey) int { return strings.Compare(a.String(), b.String()) })
				for _, k := range keys {
					if val, ok := resolve(name+"."+k.String(), mp.Get(k).String()); ok {
						mp.Set(k, protoreflect.ValueOfString(val))
					}
				}
			case fd.IsMap() || fd.IsList():
			case fd.Message() != nil:
				walk(v.Message(), name+".")
			case isSecret(fd) && fd.Kind() == protoreflect.StringKind:
				if val, ok := resolve(name, v.String()); ok {
					m.Set(fd, protoreflect.ValueOfString(val))
				}
			}
			return true
		})
	}
	walk(cfg.ProtoReflect(), "")
	return used, errors.Join(errs...)
}
