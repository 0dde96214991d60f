package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/ipamguard/ipamguard/pkg/clusterstate"
)

// progress is the line on stderr that shows how far the listing of a
// large cluster got: "reading pods… 120000", rewritten in place. Only on
// a terminal: in logs and pipes it prints nothing.
type progress struct {
	w io.Writer
	// live is false when stderr is no terminal or --quiet was given.
	live bool
	// shown is true while a progress line is on the screen.
	shown bool
}

func newProgress(stderr io.Writer, quiet bool) *progress {
	p := &progress{w: stderr}
	if f, ok := stderr.(*os.File); ok && !quiet {
		p.live = isTerminal(f)
	}
	return p
}

// report is a clusterstate.Progress.
func (p *progress) report(res clusterstate.Resource, n int, done bool) {
	if !p.live {
		return
	}
	// \r returns to the start of the line, \x1b[K clears what a longer
	// earlier line left.
	fmt.Fprintf(p.w, "\r\x1b[Kreading %s… %d", res, n)
	p.shown = true
}

// clear removes the progress line.
func (p *progress) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// note prints a note on stderr, below no progress line.
func (p *progress) note(format string, a ...any) {
	p.clear()
	fmt.Fprintf(p.w, "note: "+format+"\n", a...)
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// terminalWidth is f's width in columns; 0 when unknown.
func terminalWidth(f *os.File) int {
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return w
}
