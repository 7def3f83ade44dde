//go:build race

package msgpack

// raceEnabled: the race detector is on (sync.Pool drops items at random).
const raceEnabled = true
