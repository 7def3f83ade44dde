package eventstream

import (
	"encoding/json"
	"fmt"

	"github.com/buildmaster/buildmaster/internal/mq"
)

// A session is the state of one WebSocket client's commands: the paths
// it consumes on its bus subscription, allowed by its viewer. It is used
// by one goroutine (the connection's writer).
type session struct {
	sub    *mq.Subscription
	viewer Viewer
	paths  map[string]mq.Filter // by path as the client wrote it
	max    int                  // paths at most
}

func newSession(sub *mq.Subscription, v Viewer, maxPaths int) *session {
	return &session{sub: sub, viewer: v, paths: make(map[string]mq.Filter), max: maxPaths}
}

// handle runs one client frame and returns its answer.
func (s *session) handle(frame []byte) []byte {
	cmd, bad := decodeFrame(frame)
	if bad != nil {
		return bad
	}
	switch cmd.name {
	case "startConsuming":
		return s.startConsuming(cmd)
	case "stopConsuming":
		return s.stopConsuming(cmd)
	case "ping":
		if bad := checkArgs(cmd); bad != nil {
			return bad
		}
		return answerOK(cmd.id, "pong")
	}
	return answerError(cmd.id, 404, fmt.Sprintf("no such command type '%s'", cmd.name))
}

// pathArg is the command's "path" argument, or the error answer.
func pathArg(cmd command) (string, []byte) {
	if bad := checkArgs(cmd, "path"); bad != nil {
		return "", bad
	}
	var path string
	if err := json.Unmarshal(cmd.args["path"], &path); err != nil {
		return "", answerError(cmd.id, 400, fmt.Sprintf("invalid path format '%s'", displayJSON(cmd.args["path"])))
	}
	return path, nil
}

func (s *session) startConsuming(cmd command) []byte {
	path, bad := pathArg(cmd)
	if bad != nil {
		return bad
	}
	if _, ok := s.paths[path]; ok {
		return answerOK(cmd.id, "OK") // Buildbot acks again and adds nothing
	}
	f, err := mq.ParseFilter(path)
	if err != nil {
		return answerError(cmd.id, 400, fmt.Sprintf("invalid path format '%s': %v", path, err))
	}
	if len(s.paths) >= s.max {
		return answerError(cmd.id, 400, fmt.Sprintf("too many paths consumed: at most %d per connection", s.max))
	}
	if !s.viewer.MayConsume(path) {
		return answerError(cmd.id, 403, fmt.Sprintf("not allowed to consume '%s'", path))
	}
	if _, err := s.sub.Add(f); err != nil {
		return answerError(cmd.id, 500, fmt.Sprintf("Internal Error '%v'", err))
	}
	s.paths[path] = f
	return answerOK(cmd.id, "OK")
}

func (s *session) stopConsuming(cmd command) []byte {
	path, bad := pathArg(cmd)
	if bad != nil {
		return bad
	}
	f, ok := s.paths[path]
	if !ok {
		return answerError(cmd.id, 400, fmt.Sprintf("path was not consumed '%s'", path))
	}
	delete(s.paths, path)
	s.sub.Remove(f)
	return answerOK(cmd.id, "OK")
}
