package eventstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/buildmaster/buildmaster/internal/mq"
)

// A command is one decoded client frame of the WebSocket protocol.
type command struct {
	id   json.RawMessage            // "_id" as sent, compacted; nil when absent or null
	name string                     // "cmd"
	args map[string]json.RawMessage // the other members
}

// decodeFrame reads a client frame. A frame that is no command gets the
// error answer Buildbot gives (or, where Buildbot would fail, a clear
// 400), returned as bad.
func decodeFrame(data []byte) (cmd command, bad []byte) {
	if !utf8.Valid(data) {
		return cmd, answerError(nil, 400, "websocket frame is not valid UTF-8")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return cmd, answerError(nil, 400, "websocket frame is not a JSON object")
		}
		return cmd, answerError(nil, 400, fmt.Sprintf("invalid JSON in websocket frame: %v", err))
	}
	if members == nil {
		return cmd, answerError(nil, 400, "websocket frame is not a JSON object")
	}
	if raw, ok := members["_id"]; ok && !isNull(raw) {
		var id bytes.Buffer
		_ = json.Compact(&id, raw) // raw is valid JSON: Unmarshal checked it
		cmd.id = id.Bytes()
	}
	delete(members, "_id")
	rawType, graphql := members["type"]
	graphql = graphql && !isNull(rawType)
	if cmd.id == nil && !graphql {
		return cmd, answerError(nil, 400, "no '_id' or 'type' in websocket frame")
	}
	if graphql {
		return cmd, answerError(cmd.id, 400, "graphql websocket frames ('type') are not supported")
	}
	rawCmd, ok := members["cmd"]
	if !ok || isNull(rawCmd) {
		return cmd, answerError(nil, 400, "no 'cmd' in websocket frame")
	}
	delete(members, "cmd")
	cmd.name = displayJSON(rawCmd)
	cmd.args = members
	return cmd, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// displayJSON is a JSON string's value, or any other JSON value as written.
func displayJSON(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}

// checkArgs answers 400 as Buildbot does when a command is called with an
// argument it does not take or without one it needs (Buildbot passes the
// frame's members as keyword arguments).
func checkArgs(cmd command, want ...string) []byte {
	for _, name := range slices.Sorted(maps.Keys(cmd.args)) {
		if !slices.Contains(want, name) {
			return answerError(cmd.id, 400, fmt.Sprintf("Invalid method argument '%s() got an unexpected keyword argument '%s''", cmd.name, name))
		}
	}
	for _, name := range want {
		if _, ok := cmd.args[name]; !ok {
			return answerError(cmd.id, 400, fmt.Sprintf("Invalid method argument '%s() missing 1 required positional argument: '%s''", cmd.name, name))
		}
	}
	return nil
}

// answerOK is {"msg":msg,"code":200,"_id":id}, Buildbot's member order.
func answerOK(id json.RawMessage, msg string) []byte {
	b := append([]byte(`{"msg":`), jsonString(msg)...)
	b = append(b, `,"code":200,"_id":`...)
	return append(appendID(b, id), '}')
}

// answerError is {"error":text,"code":code,"_id":id}.
func answerError(id json.RawMessage, code int, text string) []byte {
	b := append([]byte(`{"error":`), jsonString(text)...)
	b = append(b, `,"code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"_id":`...)
	return append(appendID(b, id), '}')
}

func appendID(b []byte, id json.RawMessage) []byte {
	if id == nil {
		return append(b, "null"...)
	}
	return append(b, id...)
}

func jsonString(s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}

// encodeWSEvent is the whole WebSocket frame of ev (wsframe.go), whose
// payload is {"k":TOPIC,"m":BODY}. Key segments need no JSON escaping
// (mq.Key.Check).
func encodeWSEvent(ev *mq.Event) []byte {
	n := len(`{"k":"","m":}`) + len(ev.Topic) + len(ev.Body)
	b := appendTextHeader(make([]byte, 0, maxTextHeader+n), n)
	b = append(b, `{"k":"`...)
	b = append(b, ev.Topic...)
	b = append(b, `","m":`...)
	b = append(b, ev.Body...)
	return append(b, '}')
}

// encodeSSEEvent is the SSE event of ev:
// event: event / data: {"key":[SEGMENTS],"message":BODY}. The body holds
// no raw newline (mq.Bus.Publish compacts it).
func encodeSSEEvent(ev *mq.Event) []byte {
	b := []byte("event: event\ndata: {\"key\":[")
	for i, s := range ev.Key {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, s...)
		b = append(b, '"')
	}
	b = append(b, `],"message":`...)
	b = append(b, ev.Body...)
	return append(b, "}\n\n"...)
}
