package control

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The fields of google.protobuf.Any, the envelope of every body.
const (
	anyTypeURL protowire.Number = 1
	anyValue   protowire.Number = 2
)

// marshalEnvelope returns msg wrapped in a google.protobuf.Any: what
// proto.Marshal of anypb.New(msg) returns, built in one buffer of its
// exact size. (anypb.New marshals msg into a buffer of its own, which
// Marshal then copies: a config or a rendered tree of 150 KB twice, and in
// a process that has just started every fresh page of them costs a fault.)
func marshalEnvelope(msg proto.Message) ([]byte, error) {
	url := typeURLPrefix + string(msg.ProtoReflect().Descriptor().FullName())
	size := proto.Size(msg)
	n := protowire.SizeTag(anyTypeURL) + protowire.SizeBytes(len(url))
	if size > 0 {
		n += protowire.SizeTag(anyValue) + protowire.SizeBytes(size)
	}
	b := make([]byte, 0, n)
	b = protowire.AppendTag(b, anyTypeURL, protowire.BytesType)
	b = protowire.AppendString(b, url)
	if size == 0 { // proto3: an empty value is not written
		return b, nil
	}
	b = protowire.AppendTag(b, anyValue, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	b, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(b, msg)
	switch {
	case err != nil:
		return nil, fmt.Errorf("marshalling %s: %w", url, err)
	case len(b) != n:
		return nil, fmt.Errorf("marshalling %s: %d bytes, not the %d its size said (changed while marshalled?)", url, len(b)-(n-size), size)
	}
	return b, nil
}

// errEnvelope: bytes that are no google.protobuf.Any.
var errEnvelope = errors.New("not a google.protobuf.Any")

// openEnvelope reads data as proto.Unmarshal reads a google.protobuf.Any
// (the last of a repeated field wins, other fields are skipped, every type
// URL must be UTF-8) and returns its type URL and value. The value is a slice
// of data, not a copy: the message it holds is then unmarshalled from it.
func openEnvelope(data []byte) (typeURL string, value []byte, err error) {
	var url []byte
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return "", nil, fmt.Errorf("%w: %w", errEnvelope, protowire.ParseError(n))
		}
		if num > protowire.MaxValidNumber { // ConsumeTag allows MessageSet's larger numbers
			return "", nil, fmt.Errorf("%w: field number %d", errEnvelope, num)
		}
		data = data[n:]
		if typ == protowire.BytesType && (num == anyTypeURL || num == anyValue) {
			v, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return "", nil, fmt.Errorf("%w: %w", errEnvelope, protowire.ParseError(n))
			}
			switch {
			case num == anyTypeURL && !utf8.Valid(v):
				return "", nil, fmt.Errorf("%w: its type URL is not UTF-8", errEnvelope)
			case num == anyTypeURL:
				url = v
			default:
				value = v
			}
			data = data[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, data)
		if n < 0 {
			return "", nil, fmt.Errorf("%w: %w", errEnvelope, protowire.ParseError(n))
		}
		data = data[n:]
	}
	return string(url), value, nil
}
