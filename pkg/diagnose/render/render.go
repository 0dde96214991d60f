package render

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/ipamguard/ipamguard/pkg/diagnose"
)

// Formats are the -o values.
var Formats = []string{"text", "json", "yaml", "openreports"}

// Options tune the output. The zero value prints plain text 100 columns
// wide with the default Info cap.
type Options struct {
	// Color turns on ANSI colour (the CLI sets it only when stdout is a
	// terminal).
	Color bool
	// Width is the terminal width in columns; 0 means 100. Only tables
	// are fitted to it: messages and fix commands are never cut.
	Width int
	// MaxInfo caps the Info findings the text output prints (the rest are
	// counted by check); 0 means 20, negative means all. JSON, YAML and
	// openreports always carry every finding.
	MaxInfo int
	// MaxResults caps the results of each openreports report (most severe
	// first, as the report sorts them) and is written to the report's
	// configuration.limits.maxResults; the summary still counts every
	// finding. 0 means no cap: the printed -o openreports is complete,
	// the continuous audit sets a cap to stay under the API server's
	// object size limit.
	MaxResults int
	// ClusterOnly puts every finding, namespaced ones too, into the one
	// ClusterReport of OpenReports (the continuous audit writes one
	// object); off, findings about a namespaced object go to that
	// namespace's Report.
	ClusterOnly bool
}

const (
	defaultWidth   = 100
	defaultMaxInfo = 20
	// minWidth keeps tables legible on absurdly narrow terminals; lines
	// wrap there rather than lose every cell to "…".
	minWidth = 40
)

func (o Options) width() int {
	switch {
	case o.Width == 0:
		return defaultWidth
	case o.Width < minWidth:
		return minWidth
	}
	return o.Width
}

func (o Options) maxInfo() int {
	if o.MaxInfo == 0 {
		return defaultMaxInfo
	}
	return o.MaxInfo
}

// Write prints the report in format (one of Formats). A nil report prints
// as an empty one.
func Write(w io.Writer, r *diagnose.Report, format string, opts Options) error {
	if r == nil {
		r = &diagnose.Report{}
	}
	var err error
	switch format {
	case "text":
		err = writeText(w, r, opts)
	case "json":
		err = writeJSON(w, r)
	case "yaml":
		err = writeYAML(w, r)
	case "openreports":
		err = writeOpenReports(w, r, opts)
	default:
		return fmt.Errorf("unknown output format %q (allowed: %s)", format, strings.Join(Formats, ", "))
	}
	if err != nil {
		return fmt.Errorf("write %s report: %w", format, err)
	}
	return nil
}

// writeJSON prints the report as is. HTML escaping is off: fix commands
// hold heredocs ("<<'EOF'") that should read as typed.
func writeJSON(w io.Writer, r *diagnose.Report) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return err
	}
	return bw.Flush()
}

func writeYAML(w io.Writer, r *diagnose.Report) error {
	b, err := yaml.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
