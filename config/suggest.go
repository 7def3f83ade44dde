package config

import "strings"

// closest returns the candidate that s was most likely meant to be, or "".
// A candidate matches when it equals s ignoring case, "_" and "-"
// (maxBuilds → max_builds), or is within a small edit distance of it.
func closest(s string, candidates []string) string {
	norm := func(x string) string {
		return strings.ReplaceAll(strings.ReplaceAll(strings.ToLower(x), "_", ""), "-", "")
	}
	ns := norm(s)
	limit := min(3, max(1, len(s)/3))
	best, bestDist := "", limit+1
	for _, c := range candidates {
		if norm(c) == ns {
			return c
		}
		if dist := editDistance(strings.ToLower(s), c, bestDist); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
}

// editDistance is the edit distance between a and b, counting an insertion,
// a deletion, a substitution or a swap of two neighbours as one edit (the
// optimal string alignment distance); or any value ≥ limit once it is known
// to be at least limit.
func editDistance(a, b string, limit int) int {
	if len(a) > len(b) {
		a, b = b, a
	}
	if len(b)-len(a) >= limit || len(b) > 256 {
		return limit
	}
	// Three rows of the distance matrix: two rows back, the previous, the current.
	back, prev, cur := make([]int, len(a)+1), make([]int, len(a)+1), make([]int, len(a)+1)
	for i := range prev {
		prev[i] = i
	}
	for j := 1; j <= len(b); j++ {
		cur[0] = j
		for i := 1; i <= len(a); i++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[i] = min(prev[i]+1, cur[i-1]+1, prev[i-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[i] = min(cur[i], back[i-2]+1)
			}
		}
		back, prev, cur = prev, cur, back
	}
	return prev[len(a)]
}
