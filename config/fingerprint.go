package config

import (
	"crypto/sha256"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// Fingerprint identifies the input a config was loaded from: the same input
// always loads to the same config, so a running master that is handed input
// with the fingerprint of the config in force knows there is nothing to do,
// without parsing it again. The zero Fingerprint identifies nothing.
type Fingerprint [sha256.Size]byte

// FingerprintYAML fingerprints config text.
func FingerprintYAML(data []byte) Fingerprint {
	h := sha256.New()
	h.Write([]byte("yaml\x00"))
	h.Write(data)
	return Fingerprint(h.Sum(nil))
}

// FingerprintMessage fingerprints a typed config, as a client sends it.
func FingerprintMessage(cfg *messages.MasterConfig) Fingerprint {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(cfg)
	if err != nil {
		return Fingerprint{} // identifies nothing, so never matches
	}
	h := sha256.New()
	h.Write([]byte("proto\x00"))
	h.Write(b)
	return Fingerprint(h.Sum(nil))
}
