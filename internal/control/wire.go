package control

import (
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// The endpoint's wire.
const (
	// PathPrefix starts every request's path; the target actor's path
	// follows it.
	PathPrefix = "/v1/"
	// ContentType is the type of both bodies: a serialised google.protobuf.Any.
	ContentType = "application/x-protobuf"
	// TimeoutHeader is how long the caller waits for the reply, as a Go
	// duration ("60s"); the endpoint waits as long, at most MaxTimeout.
	// Without it, the endpoint waits DefaultTimeout.
	TimeoutHeader = "Buildmaster-Timeout"
	// FromHeader is the header of the actor message that names the peer a
	// request came from (its host:port), for the receiving actor's logs.
	FromHeader = "from"
)

// MaxMessageBytes bounds a request's body: a whole config or a change of up
// to 1 MiB fits with room to spare.
const MaxMessageBytes = 16 << 20

// DefaultTimeout and MaxTimeout bound how long the endpoint waits for an
// actor's reply: without a TimeoutHeader, and at most.
const (
	DefaultTimeout = time.Minute
	MaxTimeout     = time.Hour
)

// SchemaPackage is the protobuf package whose messages may cross processes.
const SchemaPackage = "buildmaster.v1"

// typeURLPrefix starts an Any's type URL, as anypb writes it.
const typeURLPrefix = "type.googleapis.com/"

// maxTypeURL bounds the type URL of an Any read.
const maxTypeURL = 256

// messageName is the full name an Any's type URL names: what follows its
// last '/', when there is one and a valid name follows it.
func messageName(typeURL string) (protoreflect.FullName, bool) {
	i := strings.LastIndexByte(typeURL, '/')
	name := protoreflect.FullName(typeURL[i+1:])
	return name, i >= 0 && len(typeURL) <= maxTypeURL && name.IsValid()
}
