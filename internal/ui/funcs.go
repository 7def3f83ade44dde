package ui

import (
	"html/template"
	"net/url"
	"strconv"
	"strings"

	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/messages"
)

// funcs are the template functions that do not depend on the request.
var funcs = template.FuncMap{
	"buildResult": buildResult,
	"stepResult":  stepResult,
	"span":        span,
	"short":       short,
	"firstLine":   firstLine,
	"path":        url.PathEscape,
	"jsonText":    jsonText,
	"join":        strings.Join,
	"add":         func(a, b int64) int64 { return a + b },
	"rows":        func(p viewer, rows any) listData { return listData{V: p.self(), Rows: rows} },
	"navItems":    func() []navItem { return nav },
	"treeRows":    treeRows,
}

// treeRow is one actor of the supervision tree, with its depth (the CSS
// indents up to depth 9).
type treeRow struct {
	Node  *messages.TreeNode
	Depth int
}

// treeRows flattens the tree, parents before their children.
func treeRows(n *messages.TreeNode) []treeRow {
	var out []treeRow
	var walk func(n *messages.TreeNode, depth int)
	walk = func(n *messages.TreeNode, depth int) {
		out = append(out, treeRow{Node: n, Depth: min(depth, 9)})
		for _, c := range n.GetChildren() {
			walk(c, depth+1)
		}
	}
	if n != nil {
		walk(n, 0)
	}
	return out
}

// viewer is any page's data: they all embed *view.
type viewer interface{ self() *view }

func (v *view) self() *view { return v }

// listData hands a shared partial (running builds, the queue) its rows and
// the page's view.
type listData struct {
	V    *view
	Rows any
}

// navItem is a link of the navigation bar.
type navItem struct{ Page, Href, Label string }

var nav = []navItem{
	{"home", "/", "Home"}, {"console", "/console", "Console"}, {"grid", "/grid", "Grid"},
	{"workers", "/workers", "Workers"}, {"changes", "/changes", "Changes"}, {"requests", "/requests", "Pending"},
	{"schedulers", "/schedulers", "Schedulers"}, {"master", "/master", "Master"},
}

// resultName is Buildbot's name of a result code; "running" for none.
func resultName(r *int32) string {
	if r == nil {
		return "running"
	}
	return report.Result(*r).String()
}

// buildResult is the name of a build's result, or "running".
func buildResult(b *messages.Build) string { return resultName(b.Results) }

// stepResult is the name of a step's result, "running" while it runs, or
// "pending" before it starts.
func stepResult(s *messages.Step) string {
	if s.Results == nil && s.StartedAt == 0 {
		return "pending"
	}
	return resultName(s.Results)
}

// duration renders seconds as "12s", "3m 05s", "2h 04m" or "3d 4h".
// (Without fmt: Home renders a thousand of them.)
func duration(s int64) string {
	if s < 0 {
		s = 0
	}
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	two := func(n int64) string {
		if n < 10 {
			return "0" + itoa(n)
		}
		return itoa(n)
	}
	switch {
	case s < 60:
		return itoa(s) + "s"
	case s < 3600:
		return itoa(s/60) + "m " + two(s%60) + "s"
	case s < 86400:
		return itoa(s/3600) + "h " + two(s%3600/60) + "m"
	}
	return itoa(s/86400) + "d " + itoa(s%86400/3600) + "h"
}

// span renders how long something from start to end (epoch seconds) took;
// "" when it has not started.
func span(start, end int64) string {
	if start == 0 || end == 0 {
		return ""
	}
	return duration(end - start)
}

// short is a revision cut to 10 characters.
func short(rev string) string {
	if len(rev) > 10 {
		return rev[:10]
	}
	return rev
}

// firstLine is s up to its first line break, at most 120 bytes (cut on a
// rune boundary).
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		cut := 120
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
