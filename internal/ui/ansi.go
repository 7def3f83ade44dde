package ui

import (
	"bytes"
	"html"
	"strconv"
	"unicode/utf8"
)

// style is the SGR state of a terminal: colours (0–15, -1 for the
// default), bold, faint, italic, underline. Log lines render it as CSS
// classes (fgN, bgN, b, f, i, u), never as inline styles, so the pages'
// Content-Security-Policy can forbid those.
type style struct {
	fg, bg                         int8
	bold, faint, italic, underline bool
}

var plain = style{fg: -1, bg: -1}

func (s style) class() string {
	var b []byte
	add := func(c string) {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, c...)
	}
	if s.fg >= 0 {
		add("fg" + strconv.Itoa(int(s.fg)))
	}
	if s.bg >= 0 {
		add("bg" + strconv.Itoa(int(s.bg)))
	}
	if s.bold {
		add("b")
	}
	if s.faint {
		add("f")
	}
	if s.italic {
		add("i")
	}
	if s.underline {
		add("u")
	}
	return string(b)
}

// apply changes s by one SGR sequence's parameters ("1;31", "38;5;208", "").
func (s *style) apply(params []byte) {
	ps := bytes.Split(params, []byte{';'})
	for i := 0; i < len(ps); i++ {
		n, err := strconv.Atoi(string(ps[i]))
		if err != nil {
			if len(ps[i]) > 0 {
				continue // a sub-parameter form (4:3) or junk: ignore it
			}
			n = 0
		}
		switch {
		case n == 0:
			*s = plain
		case n == 1:
			s.bold = true
		case n == 2:
			s.faint = true
		case n == 3:
			s.italic = true
		case n == 4:
			s.underline = true
		case n == 22:
			s.bold, s.faint = false, false
		case n == 23:
			s.italic = false
		case n == 24:
			s.underline = false
		case n >= 30 && n <= 37:
			s.fg = int8(n - 30)
		case n == 39:
			s.fg = -1
		case n >= 40 && n <= 47:
			s.bg = int8(n - 40)
		case n == 49:
			s.bg = -1
		case n >= 90 && n <= 97:
			s.fg = int8(n - 90 + 8)
		case n >= 100 && n <= 107:
			s.bg = int8(n - 100 + 8)
		case n == 38 || n == 48:
			c, used := extendedColour(ps[i+1:])
			i += used
			if c >= 0 {
				if n == 38 {
					s.fg = c
				} else {
					s.bg = c
				}
			}
		}
	}
}

// extendedColour reads "5;N" or "2;R;G;B" and returns the nearest of the
// 16 colours (-1 when malformed) and how many parameters it used.
func extendedColour(ps [][]byte) (int8, int) {
	num := func(i int) int {
		if i >= len(ps) {
			return -1
		}
		n, err := strconv.Atoi(string(ps[i]))
		if err != nil || n < 0 || n > 255 {
			return -1
		}
		return n
	}
	switch num(0) {
	case 5:
		n := num(1)
		switch {
		case n < 0:
			return -1, 2
		case n < 16:
			return int8(n), 2
		case n < 232:
			n -= 16
			level := func(x int) int {
				if x == 0 {
					return 0
				}
				return 55 + 40*x
			}
			return nearest16(level(n/36), level(n/6%6), level(n%6)), 2
		default:
			g := 8 + 10*(n-232)
			return nearest16(g, g, g), 2
		}
	case 2:
		r, g, b := num(1), num(2), num(3)
		if r < 0 || g < 0 || b < 0 {
			return -1, 4
		}
		return nearest16(r, g, b), 4
	}
	return -1, 1
}

var palette = [16][3]int{
	{0, 0, 0}, {205, 0, 0}, {0, 205, 0}, {205, 205, 0}, {0, 0, 238}, {205, 0, 205}, {0, 205, 205}, {229, 229, 229},
	{127, 127, 127}, {255, 0, 0}, {0, 255, 0}, {255, 255, 0}, {92, 92, 255}, {255, 0, 255}, {0, 255, 255}, {255, 255, 255},
}

func nearest16(r, g, b int) int8 {
	best, bestD := 0, 1<<30
	for i, c := range palette {
		d := (r-c[0])*(r-c[0]) + (g-c[1])*(g-c[1]) + (b-c[2])*(b-c[2])
		if d < bestD {
			best, bestD = i, d
		}
	}
	return int8(best)
}

// scanANSI walks line, calling text for each run of printable text and
// applying each SGR sequence to st. Other escape sequences (cursor moves,
// OSC titles and links, charset switches) and control characters other than
// tab are dropped. A carriage return starts the line over, as a terminal
// overwrites it (progress bars): text before the last one is not shown,
// though its SGR sequences still apply.
func scanANSI(line []byte, st *style, text func([]byte)) {
	if i := bytes.LastIndexByte(bytes.TrimRight(line, "\r"), '\r'); i >= 0 {
		scanANSI(line[:i], st, func([]byte) {})
		line = line[i+1:]
	}
	start := 0
	flush := func(end int) {
		if end > start {
			text(line[start:end])
		}
	}
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == 0x1b:
			flush(i)
			i = skipEscape(line, i, st)
			start = i
		case c < 0x20 && c != '\t' || c == 0x7f:
			flush(i)
			i++
			start = i
		default:
			i++
		}
	}
	flush(len(line))
}

// skipEscape reads the escape sequence at line[i] (an ESC), applies it to
// st if it is SGR, and returns the index after it.
func skipEscape(line []byte, i int, st *style) int {
	if i+1 >= len(line) {
		return len(line)
	}
	switch line[i+1] {
	case '[': // CSI: parameters 0x30–0x3F, intermediates 0x20–0x2F, final 0x40–0x7E
		j := i + 2
		for j < len(line) && line[j] >= 0x20 && line[j] <= 0x3F {
			j++
		}
		if j >= len(line) {
			return len(line)
		}
		if line[j] == 'm' {
			st.apply(line[i+2 : j])
		}
		return j + 1
	case ']': // OSC, ended by BEL or ESC \
		for j := i + 2; j < len(line); j++ {
			if line[j] == 0x07 {
				return j + 1
			}
			if line[j] == 0x1b && j+1 < len(line) && line[j+1] == '\\' {
				return j + 2
			}
		}
		return len(line)
	case '(', ')': // charset designation: ESC ( B
		return min(i+3, len(line))
	}
	return i + 2
}

// writeANSI renders line (without its newline) as HTML, its styles as
// spans, starting from and updating st.
func writeANSI(buf *bytes.Buffer, line []byte, st *style) {
	open := ""
	scanANSI(line, st, func(text []byte) {
		if c := st.class(); c != open {
			if open != "" {
				buf.WriteString("</span>")
			}
			if c != "" {
				buf.WriteString(`<span class="` + c + `">`)
			}
			open = c
		}
		writeEscaped(buf, text)
	})
	if open != "" {
		buf.WriteString("</span>")
	}
}

// stripANSI returns line's text without escape sequences.
func stripANSI(line []byte) []byte {
	var out []byte
	st := plain
	scanANSI(line, &st, func(text []byte) { out = append(out, text...) })
	return out
}

// writeEscaped writes text HTML-escaped, invalid UTF-8 replaced.
func writeEscaped(buf *bytes.Buffer, text []byte) {
	if !utf8.Valid(text) {
		text = bytes.ToValidUTF8(text, []byte("\uFFFD"))
	}
	if bytes.ContainsAny(text, `&<>"'`) {
		buf.WriteString(html.EscapeString(string(text)))
		return
	}
	buf.Write(text)
}
