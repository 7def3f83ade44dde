package state

import (
	"crypto/sha1"
	"encoding/hex"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/messages"
)

// ssHash is a sourcestamp's ss_hash: the SHA-1 of its branch, revision,
// repository, project and codebase, each followed by a NUL.
func ssHash(branch, revision, repository, project, codebase string) string {
	h := sha1.New()
	for _, s := range []string{branch, revision, repository, project, codebase} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// findOrAddSourceStamp returns the sourcestamp with want's branch, revision,
// repository, project and codebase, found by its hash as Buildbot's
// findSourceStampId does, or adds it (created_at from want).
func findOrAddSourceStamp(txn *memdb.Txn, seq *ids, want *messages.SourceStamp) (*messages.SourceStamp, error) {
	hash := ssHash(want.Branch, want.Revision, want.Repository, want.Project, want.Codebase)
	ss, err := get[*messages.SourceStamp](txn, TableSourceStamps, IndexSSHash, hash)
	if err != nil || ss != nil {
		return ss, err
	}
	id, err := seq.nextID(txn, TableSourceStamps)
	if err != nil {
		return nil, err
	}
	ss = &messages.SourceStamp{Id: id, SsHash: hash, Branch: want.Branch, Revision: want.Revision,
		Repository: want.Repository, Codebase: want.Codebase, Project: want.Project, CreatedAt: want.CreatedAt}
	return ss, txn.Insert(TableSourceStamps, ss)
}
