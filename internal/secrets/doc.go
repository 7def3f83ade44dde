// Package secrets owns secret values on their way from where they are kept
// to where they are used, and their removal from everything printed after.
// It is pure (no actors, no state): the secrets service holds a Chain, step
// and reporter code calls Render, and every output path that may carry a
// value goes through a Redactor. Values never enter state, logs or errors.
//
// # Providers
//
// A Provider gives a value by name, or an error wrapping ErrNotFound:
//
//   - Dir: one file per secret, named after it (Buildbot's SecretInAFile):
//     trailing CR/LF stripped, files open to group or others refused,
//     names with a path separator or ".." never looked up.
//   - Env: environment variables, with an optional prefix.
//   - Vault: HashiCorp Vault's KV v2 engine over HTTP ("path|key" names).
//
// A Chain asks its providers in order (the first that has the name
// answers; one that fails stops the search), refuses a value shorter than
// MinSecretLen (TooShortError), and caches values for a short TTL.
//
// # Use
//
//	chain := secrets.NewChain([]secrets.Provider{dir, env, vault}, secrets.ChainOptions{})
//	cmd, used, err := secrets.Render(ctx, chain, "deploy --token %(secret:deploy)s",
//		secrets.RenderOptions{Where: `step "deploy" of builder "app"`, Literal: props.interpolate})
//	build.used.Merge(used)
//	w := build.used.Redactor().NewWriter(logWriter) // step output, in constant memory
//	w.Write(chunk) …; w.Flush()
//	msg := build.used.Redactor().Redact(err.Error()) // one string
//
// # Redaction
//
// A Redactor replaces each value with "<NAME>", as Buildbot does. Its
// Writer finds values split across writes while holding back no more than
// the longest value's length minus one byte, and none of a line's bytes
// after its newline when no value holds a newline. The search is one pass
// (Wu-Manber over 4-byte blocks), so its speed hardly depends on how many
// values are in use: see BenchmarkWriter.
package secrets
