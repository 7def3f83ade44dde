package msgpack

import (
	"fmt"
	"strings"
	"time"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// decodeUpdates turns an update's args, [[key, value], …], into
// wire.Updates: stdout, stderr and header [text, offsets, times] → Text;
// log [name, [text, offsets, times]] → Log and Text; integers → Int;
// elapsed and other floats → Float; anything else → Value. A bare string
// is taken as output text too. Args that decodeRequest decoded already
// come as they are.
func decodeUpdates(v any) ([]wire.Update, error) {
	if us, ok := v.([]wire.Update); ok {
		return us, nil
	}
	pairs, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("update args is a %T, want a list of [key, value] pairs", v)
	}
	out := make([]wire.Update, 0, len(pairs))
	for i, e := range pairs {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("update args[%d]: want a [key, value] pair", i)
		}
		key, ok := pair[0].(string)
		if !ok {
			return nil, fmt.Errorf("update args[%d]: key is a %T, want a str", i, pair[0])
		}
		u, err := decodeUpdate(key, pair[1])
		if err != nil {
			return nil, fmt.Errorf("update args[%d] (%s): %w", i, key, err)
		}
		out = append(out, u)
	}
	return out, nil
}

func decodeUpdate(key string, v any) (wire.Update, error) {
	u := wire.Update{Key: key}
	switch key {
	case "stdout", "stderr", "header":
		text, err := outputText(v)
		u.Text = text
		return u, err
	case "log":
		l, ok := v.([]any)
		if !ok || len(l) != 2 {
			return u, fmt.Errorf("want [logname, output]")
		}
		if u.Log, ok = l[0].(string); !ok {
			return u, fmt.Errorf("logname is a %T, want a str", l[0])
		}
		text, err := outputText(l[1])
		u.Text = text
		return u, err
	}
	switch x := v.(type) {
	case int64:
		u.Int = x
	case float64:
		u.Float = x
	default:
		u.Value = v
	}
	return u, nil
}

// outputText takes the text of [text, offsets, times], or a bare text.
func outputText(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []any:
		if len(x) > 0 {
			if s, ok := x[0].(string); ok {
				return s, nil
			}
		}
	}
	return "", fmt.Errorf("want [text, offsets, times]")
}

// encodeUpdates is decodeUpdates' inverse, for the worker side: output
// text gets the newline offsets and times Buildbot's worker sends (now, for
// every line).
func encodeUpdates(us []wire.Update, now time.Time) []any {
	t := float64(now.UnixNano()) / 1e9
	out := make([]any, 0, len(us))
	for _, u := range us {
		var v any
		switch {
		case u.Key == "stdout" || u.Key == "stderr" || u.Key == "header":
			v = outputValue(u.Text, t)
		case u.Key == "log":
			v = []any{u.Log, outputValue(u.Text, t)}
		case u.Value != nil:
			v = u.Value
		case u.Key == "elapsed" || u.Float != 0:
			v = u.Float
		default:
			v = u.Int
		}
		out = append(out, []any{u.Key, v})
	}
	return out
}

func outputValue(text string, t float64) []any {
	offsets, times := []any{}, []any{}
	for i := 0; ; {
		j := strings.IndexByte(text[i:], '\n')
		if j < 0 {
			break
		}
		offsets = append(offsets, int64(i+j))
		times = append(times, t)
		i += j + 1
	}
	return []any{text, offsets, times}
}
