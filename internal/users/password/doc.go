// Package password owns how web users' passwords are stored and checked:
// argon2id hashes in the PHC string format (Hasher), and Apache htpasswd
// files (Htpasswd). It is pure: no actors, no state; the users service
// stores the strings Hash returns and the www auth middleware calls Verify.
//
// # Stored form
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt, 16 bytes>$<key, 32 bytes>
//
// (salt and key in unpadded standard base64). The parameters travel with
// each hash, so they can be raised later: NeedsRehash says when a stored
// hash is weaker than the Hasher's parameters (or is bcrypt), and the
// caller re-hashes the password it has just verified.
//
// Verify also accepts bcrypt ($2a$, $2b$, $2y$), for hashes taken from an
// htpasswd file. A comparison is constant-time; a missing user is checked
// against a dummy hash so that it takes as long as a wrong password. At
// most MaxConcurrent hashes run at once (argon2id uses Memory KiB each), so
// a flood of logins costs time, not memory.
package password
