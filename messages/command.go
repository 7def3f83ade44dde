package messages

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// NewCommand wraps kind, one of the messages a Command's oneof kind holds
// (AddChange, AddBuild, FinishStep …), in a Command. It panics if kind is
// not one of them: which command a caller writes is known when the caller
// is written.
func NewCommand(kind proto.Message) *Command {
	c := &Command{}
	r := c.ProtoReflect()
	name := kind.ProtoReflect().Descriptor().FullName()
	fields := r.Descriptor().Oneofs().ByName("kind").Fields()
	for i := range fields.Len() {
		if f := fields.Get(i); f.Message().FullName() == name {
			r.Set(f, protoreflect.ValueOfMessage(kind.ProtoReflect()))
			return c
		}
	}
	panic(fmt.Sprintf("messages.NewCommand: %s is not a command", name))
}
