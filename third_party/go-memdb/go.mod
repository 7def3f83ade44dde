module github.com/hashicorp/go-memdb

go 1.21

require github.com/hashicorp/go-immutable-radix v1.3.1

// buildmaster: First and Last use the fork's Node.FirstPrefix and
// LastPrefix (see third_party/README.md); the root module's replace is the
// one that counts, this one lets the copy build and test on its own.
replace github.com/hashicorp/go-immutable-radix => ../go-immutable-radix
