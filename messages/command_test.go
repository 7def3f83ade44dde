package messages

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Every kind of command is wrapped in its own field of the oneof, the
// message itself (not a copy); anything else panics.
func TestNewCommand(t *testing.T) {
	fields := (&Command{}).ProtoReflect().Descriptor().Oneofs().ByName("kind").Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		mt, err := protoregistry.GlobalTypes.FindMessageByName(f.Message().FullName())
		if err != nil {
			t.Fatal(err)
		}
		kind := mt.New().Interface()
		c := NewCommand(kind)
		if got := c.ProtoReflect().WhichOneof(f.ContainingOneof()); got != f {
			t.Errorf("NewCommand(%s) set %v, want %s", f.Message().FullName(), got, f.Name())
			continue
		}
		if c.ProtoReflect().Get(f).Message().Interface() != kind {
			t.Errorf("NewCommand(%s) holds a copy", f.Message().FullName())
		}
	}
	for _, notACommand := range []proto.Message{&Change{}, &CommandResult{}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewCommand(%T) did not panic", notACommand)
				}
			}()
			NewCommand(notACommand)
		}()
	}
}
