package service

import (
	"log/slog"
	"strconv"
)

// IDs is a log attribute listing ids as "1,2,3": slog.Any would render the
// slice by reflection, which costs more than the rest of the line.
func IDs(key string, ids []uint64) slog.Attr {
	b := make([]byte, 0, 8*len(ids))
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, id, 10)
	}
	return slog.String(key, string(b))
}
