package config

import "strings"

// closest returns the candidate that s was most likely meant to be, or "".
// A candidate matches when it equals s ignoring case, "_" and "-"
// (maxBuilds → max_builds), or is within a small edit distance of it.
func closest(s string, candidates []string) string {
	norm := func(x string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(x))
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

// editDistance is the Levenshtein distance between a and b, or any value ≥
// limit once it is known to be at least limit.
func editDistance(a, b string, limit int) int {
	if len(a) > len(b) {
		a, b = b, a
	}
	if len(b)-len(a) >= limit || len(b) > 256 {
		return limit
	}
	prev := make([]int, len(a)+1)
	cur := make([]int, len(a)+1)
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
		}
		prev, cur = cur, prev
	}
	return prev[len(a)]
}
