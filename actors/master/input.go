package master

import (
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/messages"
)

// input is the config a reconfigure request asks for, before it is checked:
// YAML text (sent, or the master's own file) or a typed config.
type input struct {
	name        string
	yaml        []byte
	typed       *messages.MasterConfig
	fingerprint config.Fingerprint
	secrets     *service.Secrets // set by check
}

// input resolves what a request asks for: its typed config, its YAML, or
// else the master's config file (the built-in example when it has none).
func (m *master) input(req *messages.ReconfigureRequest) (*input, config.Errors) {
	in := &input{name: req.GetConfigName(), yaml: req.GetConfigYaml(), typed: req.GetConfig()}
	if in.name == "" {
		in.name = "reconfigure request"
	}
	switch {
	case in.typed != nil && len(in.yaml) > 0:
		return nil, config.Errors{{File: in.name, Msg: "a reconfigure request carries either config_yaml or config, not both"}}
	case in.typed != nil:
		in.fingerprint = config.FingerprintMessage(in.typed)
		return in, nil
	case len(in.yaml) > 0:
	case m.rt.ConfigPath == "":
		in.name, in.yaml = config.Example()
	default:
		data, err := os.ReadFile(m.rt.ConfigPath)
		if err != nil {
			return nil, config.Errors{{File: m.rt.ConfigPath, Msg: "cannot read the config file: " + err.Error()}}
		}
		in.name, in.yaml = m.rt.ConfigPath, data
	}
	in.fingerprint = config.FingerprintYAML(in.yaml)
	return in, nil
}

// unchanged reports whether the input is the very one the config in force
// was loaded from, so that loading it again would change nothing.
func (in *input) unchanged(rt *service.Runtime) bool {
	return in.fingerprint != (config.Fingerprint{}) && in.fingerprint == rt.Input()
}

// check loads the input, checks it can replace current, and resolves its
// secret references (in.secrets).
func (in *input) check(current *messages.MasterConfig) (*messages.MasterConfig, config.Errors) {
	var cfg *messages.MasterConfig
	var errs config.Errors
	if in.typed != nil {
		cfg, errs = config.CheckReplacing(in.name, in.typed, current)
	} else {
		cfg, errs = config.LoadReplacing(in.name, in.yaml, current)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return in.resolve(cfg)
}

// resolve returns cfg with its secret references resolved, read from the
// providers now (in.secrets).
func (in *input) resolve(cfg *messages.MasterConfig) (*messages.MasterConfig, config.Errors) {
	cfg, sec, err := resolveSecrets(cfg)
	if err != nil {
		return nil, config.Errors{{File: in.name, Msg: "secrets: " + err.Error()}}
	}
	in.secrets = sec
	return cfg, nil
}

// load returns the config in asks for, checked against old and with its
// secrets resolved (in.secrets); same is true when it is the config in
// force. The input the config in force was loaded from is not parsed
// again, but when that config has secret providers its references are
// read from them again: a secret rotated in its file, Vault or the
// environment makes a new generation, whose services see the new value.
func (m *master) load(in *input, old *messages.MasterConfig) (cfg *messages.MasterConfig, same bool, errs config.Errors) {
	if in.unchanged(m.rt) {
		refs := m.rt.Secrets().Refs
		if len(refs.GetSecrets()) == 0 {
			return nil, true, nil
		}
		cfg, errs = in.resolve(refs)
	} else {
		cfg, errs = in.check(old)
	}
	if len(errs) > 0 {
		return nil, false, errs
	}
	// Another text of the config in force (a comment added, keys in
	// another order), or the same one with the same secret values: the
	// same config. (After services failed to acknowledge, the input is
	// forgotten and the same config is sent to every service again: the
	// retry.)
	return cfg, m.rt.Input() != (config.Fingerprint{}) && proto.Equal(cfg, old), nil
}
