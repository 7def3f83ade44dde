package master

import (
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// supervision is the master's own part of the config.
func supervision(c *messages.MasterConfig) proto.Message { return c.GetSupervision() }

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
