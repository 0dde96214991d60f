package main

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"strconv"
	"strings"
)

// Series is one line of the plot: a value (seconds) per x position; NaN
// leaves a gap.
type Series struct {
	Label  string
	Color  color.RGBA
	Dashed bool
	Y      []float64
}

// Plot is a line chart with categorical x and a log10 y axis, drawn with
// the standard library only (a 3x5 pixel font scaled up, Bresenham lines).
type Plot struct {
	Title  string
	XLabel []string
	YLabel string
	Series []Series
	// YMin and YMax bound the y axis (seconds, powers of ten).
	YMin, YMax float64
	// legend lists the labelled series; nil means all of Series.
	legend []Series
}

const (
	plotW, plotH                       = 1000, 600
	marginL, marginR, marginT, marginB = 90, 290, 50, 70
	scale                              = 2
)

var (
	black = color.RGBA{0, 0, 0, 255}
	grey  = color.RGBA{220, 220, 220, 255}
)

// WritePNG renders the plot to path.
func (p *Plot) WritePNG(path string) error {
	img := image.NewRGBA(image.Rect(0, 0, plotW, plotH))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	x0, x1 := marginL, plotW-marginR
	y0, y1 := plotH-marginB, marginT
	ly0, ly1 := math.Log10(p.YMin), math.Log10(p.YMax)
	yPix := func(v float64) int {
		return y0 - int(math.Round((math.Log10(v)-ly0)/(ly1-ly0)*float64(y0-y1)))
	}
	xPix := func(i int) int {
		if len(p.XLabel) == 1 {
			return (x0 + x1) / 2
		}
		return x0 + 40 + i*(x1-x0-80)/(len(p.XLabel)-1)
	}
	// Grid and y labels at each decade.
	for e := ly0; e <= ly1+1e-9; e++ {
		y := yPix(math.Pow(10, e))
		line(img, x0, y, x1, y, grey, false, 1)
		lbl := durationLabel(math.Pow(10, e))
		text(img, x0-8-textWidth(lbl), y-5, lbl, black)
	}
	line(img, x0, y0, x1, y0, black, false, 1)
	line(img, x0, y0, x0, y1, black, false, 1)
	for i, l := range p.XLabel {
		x := xPix(i)
		line(img, x, y0, x, y0+5, black, false, 1)
		text(img, x-textWidth(l)/2, y0+12, l, black)
	}
	text(img, (x0+x1)/2-textWidth("subnets/ip objects")/2, y0+38, "subnets/ip objects", black)
	text(img, 10, marginT-30, p.Title, black)
	text(img, 10, marginT-14, p.YLabel, black)
	for _, s := range p.Series {
		for i := 1; i < len(s.Y); i++ {
			if math.IsNaN(s.Y[i-1]) || math.IsNaN(s.Y[i]) {
				continue
			}
			line(img, xPix(i-1), yPix(s.Y[i-1]), xPix(i), yPix(s.Y[i]), s.Color, s.Dashed, 2)
		}
		for i, v := range s.Y {
			if !math.IsNaN(v) {
				dot(img, xPix(i), yPix(v), s.Color)
			}
		}
	}
	// Legend.
	lx, ly := x1+20, marginT
	legend := p.legend
	if legend == nil {
		legend = p.Series
	}
	legend = append(legend, Series{Label: "ipamguard p99", Color: black}, Series{Label: "baseline p50", Color: black, Dashed: true})
	for _, s := range legend {
		line(img, lx, ly+5, lx+30, ly+5, s.Color, s.Dashed, 2)
		text(img, lx+38, ly, s.Label, black)
		ly += 18
	}
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(fh, img); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func durationLabel(sec float64) string {
	switch {
	case sec >= 1:
		return trimFloat(sec) + "s"
	case sec >= 1e-3:
		return trimFloat(sec*1e3) + "ms"
	default:
		return trimFloat(sec*1e6) + "µs"
	}
}

func trimFloat(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }

func set(img *image.RGBA, x, y int, c color.RGBA) {
	if image.Pt(x, y).In(img.Rect) {
		img.SetRGBA(x, y, c)
	}
}

func dot(img *image.RGBA, cx, cy int, c color.RGBA) {
	for dy := -3; dy <= 3; dy++ {
		for dx := -3; dx <= 3; dx++ {
			if dx*dx+dy*dy <= 9 {
				set(img, cx+dx, cy+dy, c)
			}
		}
	}
}

// line draws a Bresenham line of the given width; dashed lines draw 8
// pixels of every 14.
func line(img *image.RGBA, xa, ya, xb, yb int, c color.RGBA, dashed bool, width int) {
	dx, dy := abs(xb-xa), -abs(yb-ya)
	sx, sy := sign(xb-xa), sign(yb-ya)
	err := dx + dy
	for n := 0; ; n++ {
		if !dashed || n%14 < 8 {
			for w := 0; w < width; w++ {
				for v := 0; v < width; v++ {
					set(img, xa+w, ya+v, c)
				}
			}
		}
		if xa == xb && ya == yb {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			xa += sx
		}
		if e2 <= dx {
			err += dx
			ya += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

// glyphs is a 3x5 pixel font: five rows of three bits, top to bottom.
var glyphs = map[rune][5]uint8{
	'0': {7, 5, 5, 5, 7}, '1': {2, 6, 2, 2, 7}, '2': {7, 1, 7, 4, 7}, '3': {7, 1, 7, 1, 7}, '4': {5, 5, 7, 1, 1},
	'5': {7, 4, 7, 1, 7}, '6': {7, 4, 7, 5, 7}, '7': {7, 1, 1, 1, 1}, '8': {7, 5, 7, 5, 7}, '9': {7, 5, 7, 1, 7},
	'a': {2, 5, 7, 5, 5}, 'b': {6, 5, 6, 5, 6}, 'c': {3, 4, 4, 4, 3}, 'd': {6, 5, 5, 5, 6}, 'e': {7, 4, 6, 4, 7},
	'f': {7, 4, 6, 4, 4}, 'g': {3, 4, 5, 5, 3}, 'h': {5, 5, 7, 5, 5}, 'i': {7, 2, 2, 2, 7}, 'j': {1, 1, 1, 5, 2},
	'k': {5, 5, 6, 5, 5}, 'l': {4, 4, 4, 4, 7}, 'm': {5, 7, 7, 5, 5}, 'n': {6, 5, 5, 5, 5}, 'o': {2, 5, 5, 5, 2},
	'p': {6, 5, 6, 4, 4}, 'q': {2, 5, 5, 6, 3}, 'r': {6, 5, 6, 5, 5}, 's': {3, 4, 2, 1, 6}, 't': {7, 2, 2, 2, 2},
	'u': {5, 5, 5, 5, 7}, 'v': {5, 5, 5, 5, 2}, 'w': {5, 5, 7, 7, 5}, 'x': {5, 5, 2, 5, 5}, 'y': {5, 5, 2, 2, 2},
	'z': {7, 1, 2, 4, 7}, '/': {1, 1, 2, 4, 4}, '-': {0, 0, 7, 0, 0}, '.': {0, 0, 0, 0, 2}, '(': {1, 2, 2, 2, 1},
	')': {4, 2, 2, 2, 4}, ':': {0, 2, 0, 2, 0}, '=': {0, 7, 0, 7, 0}, ',': {0, 0, 0, 2, 4}, 'µ': {0, 5, 5, 6, 4},
	'_': {0, 0, 0, 0, 7}, '%': {5, 1, 2, 4, 5}, '<': {1, 2, 4, 2, 1}, '>': {4, 2, 1, 2, 4}, ' ': {},
}

const advance = 4 * scale

func textWidth(s string) int { return len([]rune(s)) * advance }

// text draws s with its top-left corner at (x, y); upper case is drawn as
// lower case, unknown characters as blanks.
func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range strings.ToLower(s) {
		g := glyphs[r]
		for row := range 5 {
			for col := range 3 {
				if g[row]&(4>>col) == 0 {
					continue
				}
				for dy := range scale {
					for dx := range scale {
						set(img, x+col*scale+dx, y+row*scale+dy, c)
					}
				}
			}
		}
		x += advance
	}
}
