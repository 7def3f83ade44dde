package messages

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Redacted returns a copy of m with every field marked `(buildmaster.v1.secret)`
// cleared, at any depth. Use it before a message is logged, shown or sent in
// an error.
func Redacted(m proto.Message) proto.Message {
	if m == nil {
		return nil
	}
	c := proto.Clone(m)
	redact(c.ProtoReflect())
	return c
}

// IsSecret reports whether a field carries the secret option.
func IsSecret(fd protoreflect.FieldDescriptor) bool {
	opts := fd.Options()
	return opts != nil && proto.GetExtension(opts, E_Secret).(bool)
}

func redact(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case IsSecret(fd):
			m.Clear(fd)
		case fd.Message() == nil:
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				redact(l.Get(i).Message())
			}
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					redact(mv.Message())
					return true
				})
			}
		default:
			redact(v.Message())
		}
		return true
	})
}
