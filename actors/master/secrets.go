package master

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/secrets"
	"github.com/buildmaster/buildmaster/messages"
)

// SecretsTimeout bounds the lookups of one config's secret references.
const SecretsTimeout = 30 * time.Second

// resolveSecrets returns a copy of cfg whose `{secret: NAME}` references
// hold their values, read from the providers now, and the secrets that go
// with it (cfg itself as their Refs). Its error names each field whose
// secret could not be had, never a value.
func resolveSecrets(cfg *messages.MasterConfig) (*messages.MasterConfig, *service.Secrets, error) {
	provs, err := config.Providers(cfg)
	if err != nil {
		return nil, nil, err
	}
	s := &service.Secrets{Provider: secrets.NewChain(provs, secrets.ChainOptions{}), Refs: cfg}
	out := proto.Clone(cfg).(*messages.MasterConfig)
	ctx, cancel := context.WithTimeout(context.Background(), SecretsTimeout)
	defer cancel()
	s.Used, err = config.ResolveSecrets(ctx, out, s.Provider)
	if err != nil {
		return nil, nil, err
	}
	return out, s, nil
}

// changedSecrets names the secrets old and new both resolved whose
// values differ: rotated in their provider.
func changedSecrets(old, new secrets.Values) []string {
	var out []string
	for _, n := range new.Names() {
		was, ok := old.Value(n)
		if v, _ := new.Value(n); ok && v != was {
			out = append(out, n)
		}
	}
	return out
}
