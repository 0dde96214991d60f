package render

import (
	"strings"
	"unicode/utf8"
)

// table is a text table whose columns fit their content and, by cutting
// the shrinkable columns, the terminal width. Cells are clean (see clean)
// and measured in runes: Kubernetes names are ASCII, so runes are columns.
type table struct {
	header []string
	rows   [][]string
	// shrink marks the columns that may be cut with "…" (names); the
	// others (numbers, states) are never cut.
	shrink []bool
	// right marks right-aligned (numeric) columns.
	right []bool
	// styleCol is the column coloured by styles[row]; -1 for none.
	styleCol int
	styles   []string
}

const (
	colGap = "  "
	// minShrink is the narrowest a shrinkable column is cut to.
	minShrink = 8
)

// widths are the column widths: the widest cell, then the widest
// shrinkable columns cut one column at a time until the line fits.
// Each cut is O(columns) and there are at most columns×width cuts, since
// no column starts wider than the terminal.
func (tb *table) widths(width int) []int {
	ws := make([]int, len(tb.header))
	for c, h := range tb.header {
		ws[c] = utf8.RuneCountInString(h)
	}
	for _, row := range tb.rows {
		for c, cell := range row {
			if n := utf8.RuneCountInString(cell); n > ws[c] {
				ws[c] = n
			}
		}
	}
	total := len(colGap) * (len(ws) - 1)
	for c := range ws {
		if tb.shrink[c] && ws[c] > width {
			ws[c] = width
		}
		total += ws[c]
	}
	for total > width {
		widest := -1
		for c, w := range ws {
			if tb.shrink[c] && w > max(minShrink, utf8.RuneCountInString(tb.header[c])) && (widest < 0 || w > ws[widest]) {
				widest = c
			}
		}
		if widest < 0 {
			break // the fixed columns alone are wider: let the line wrap
		}
		ws[widest]--
		total--
	}
	return ws
}

func (t *textWriter) table(tb *table) {
	ws := tb.widths(t.width)
	t.row(tb, tb.header, ws, "")
	for r, row := range tb.rows {
		style := ""
		if tb.styleCol >= 0 && r < len(tb.styles) {
			style = tb.styles[r]
		}
		t.row(tb, row, ws, style)
	}
}

// row writes one line: cells padded to their width (none after the last,
// so lines carry no trailing blanks), the style column coloured after
// padding so escape codes never count as width.
func (t *textWriter) row(tb *table, cells []string, ws []int, style string) {
	last := len(cells) - 1
	for last > 0 && cells[last] == "" {
		last--
	}
	for c := 0; c <= last; c++ {
		if c > 0 {
			t.str(colGap)
		}
		cell := cells[c]
		n := utf8.RuneCountInString(cell)
		if n > ws[c] {
			cell = truncate(cell, ws[c])
			n = ws[c]
		}
		pad := ws[c] - n
		if c == last && !tb.right[c] {
			pad = 0
		}
		if tb.right[c] {
			t.spaces(pad)
		}
		if c == tb.styleCol {
			t.styled(style, cell)
		} else {
			t.str(cell)
		}
		if !tb.right[c] {
			t.spaces(pad)
		}
	}
	t.nl()
}

// truncate cuts s to w runes, the last one "…".
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	i, n := 0, 0
	for i < len(s) && n < w-1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	return s[:i] + "…"
}

var blanks = strings.Repeat(" ", 128)

func (t *textWriter) spaces(n int) {
	for n > len(blanks) {
		t.str(blanks)
		n -= len(blanks)
	}
	t.str(blanks[:n])
}
