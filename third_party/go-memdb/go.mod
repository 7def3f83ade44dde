module github.com/hashicorp/go-memdb

go 1.21

require github.com/hashicorp/go-immutable-radix v1.3.1
