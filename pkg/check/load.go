package check

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"sigs.k8s.io/yaml"

	"github.com/ipamguard/ipamguard/pkg/review"
)

// Source says where an object was read: file, document and line.
type Source struct {
	// File is the path as given (or found under a given directory);
	// "<stdin>" for standard input.
	File string `json:"file"`
	// Document is the 1-based index of the YAML document in the file,
	// counting only documents that hold something.
	Document int `json:"document"`
	// Item is the 0-based index in the items of a List, or -1.
	Item int `json:"item"`
	// Line is the 1-based line where the document starts.
	Line int `json:"line"`
}

// String renders the source as "file:line (document N[, item I])".
func (s Source) String() string {
	out := fmt.Sprintf("%s:%d (document %d", s.File, s.Line, s.Document)
	if s.Item >= 0 {
		out += fmt.Sprintf(", item %d", s.Item)
	}
	return out + ")"
}

// Object is one object read from a manifest: where it came from, what it
// is, and its JSON.
type Object struct {
	Source     Source
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	// Raw is the object as JSON.
	Raw []byte
}

// InputError is a problem with the input (unreadable file, YAML syntax
// error, object without a kind, no object at all): nothing is judged.
type InputError struct {
	// File ("" when no file is to blame), Document (0 when the whole
	// file), Item (the 0-based index in a List, -1 when not in one) and
	// Line (0 when unknown) locate the problem.
	File     string
	Document int
	Item     int
	Line     int
	Err      error
}

// errorAt is an InputError at an object's source.
func errorAt(src Source, err error) *InputError {
	return &InputError{File: src.File, Document: src.Document, Item: src.Item, Line: src.Line, Err: err}
}

func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Document > 0 {
		fmt.Fprintf(&b, ": document %d", e.Document)
		if e.Item >= 0 {
			fmt.Fprintf(&b, ", item %d", e.Item)
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *InputError) Unwrap() error { return e.Err }

// StdinName is the file name of standard input in sources.
const StdinName = "<stdin>"

// Reader reads manifests from files, directories and standard input.
type Reader struct {
	// Stdin is read for the path "-"; at most once.
	Stdin     io.Reader
	stdinUsed bool
}

// ReadPaths reads every object of the given paths in order: a file, a
// directory (its .yaml, .yml and .json files, recursively, in lexical
// order; a symbolic link given as the path is followed, one to a
// directory found under it is an error), or "-" for standard input. Each
// document is one object; a List (kind List or any kind ending in "List"
// with items) and a `kubectl ipam snapshot` (kind Snapshot of
// ipamguard.io/v1alpha1) are expanded into their items.
func (rd *Reader) ReadPaths(paths []string) ([]Object, error) {
	var out []Object
	for _, p := range paths {
		objs, err := rd.readPath(p)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

func (rd *Reader) readPath(p string) ([]Object, error) {
	if p == "-" {
		if rd.stdinUsed || rd.Stdin == nil {
			return nil, &InputError{File: StdinName, Item: -1, Err: errors.New("standard input can be read only once")}
		}
		rd.stdinUsed = true
		data, err := io.ReadAll(rd.Stdin)
		if err != nil {
			return nil, &InputError{File: StdinName, Item: -1, Err: err}
		}
		return Parse(StdinName, data)
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, &InputError{File: p, Item: -1, Err: unwrapPathError(err)}
	}
	if !info.IsDir() {
		return readFile(p)
	}
	// A symbolic link given with -f is followed (WalkDir would not):
	// the files under it are named by the path as given.
	root, err := filepath.EvalSymlinks(p)
	if err != nil {
		return nil, &InputError{File: p, Item: -1, Err: unwrapPathError(err)}
	}
	var out []Object
	found := false
	// WalkDir visits entries in lexical order.
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		shown := p
		if rel, rerr := filepath.Rel(root, path); rerr == nil && rel != "." {
			shown = filepath.Join(p, rel)
		}
		if err != nil {
			return &InputError{File: shown, Item: -1, Err: unwrapPathError(err)}
		}
		if d.Type()&fs.ModeSymlink != 0 {
			// kubectl apply -R does not follow links to directories
			// either: report rather than silently skip them.
			if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
				return &InputError{File: shown, Item: -1, Err: errors.New("symbolic link to a directory: not followed (kubectl apply -R does not follow it either); give it with its own -f to check it")}
			}
		}
		if d.IsDir() || !manifestExt(path) {
			return nil
		}
		found = true
		objs, err := readFileAs(path, shown)
		out = append(out, objs...)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, &InputError{File: p, Item: -1, Err: errors.New("directory holds no .yaml, .yml or .json file")}
	}
	return out, nil
}

func manifestExt(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// unwrapPathError drops the path an fs.PathError repeats.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func readFile(path string) ([]Object, error) { return readFileAs(path, path) }

// readFileAs reads the file at path, naming it shown in sources.
func readFileAs(path, shown string) ([]Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &InputError{File: shown, Item: -1, Err: unwrapPathError(err)}
	}
	return Parse(shown, data)
}

// document is one YAML document of a file and the line it starts on.
type document struct {
	text []byte
	line int
}

// separator is the YAML document separator.
var separator = []byte("---")

// splitDocuments splits a YAML stream at "---" lines, keeping each
// document's first line number, line numbers starting at first. As in
// kubectl (k8s.io/apimachinery's YAMLReader), a line starting with "---"
// is a separator, which only spaces or a comment may follow: anything
// else is an error at that line, not content to drop.
func splitDocuments(data []byte, first int) ([]document, int, error) {
	var docs []document
	start, line := first, first-1
	var cur bytes.Buffer
	for len(data) > 0 {
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i+1], data[i+1:]
		} else {
			l, data = data, nil
		}
		line++
		if bytes.HasPrefix(l, separator) {
			if rest := bytes.TrimSpace(l[len(separator):]); len(rest) > 0 && rest[0] != '#' {
				return nil, line, fmt.Errorf("invalid YAML document separator: %s (only a comment may follow \"---\" on its line)", rest)
			}
			docs = append(docs, document{text: bytes.Clone(cur.Bytes()), line: start})
			cur.Reset()
			start = line + 1
			continue
		}
		cur.Write(l)
	}
	return append(docs, document{text: cur.Bytes(), line: start}), 0, nil
}

// leadingLines counts the blank and comment lines a document starts
// with, so that its line is where its content starts.
func leadingLines(text []byte) int {
	n := 0
	for len(text) > 0 {
		l := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			l, text = text[:i], text[i+1:]
		} else {
			text = nil
		}
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			return n
		}
		n++
	}
	return n
}

// yamlLine is the line number the YAML library starts its errors with,
// counted from the start of the document.
var yamlLine = regexp.MustCompile(`^line (\d+): `)

// parser reads the objects of one file.
type parser struct {
	file string
	// n counts the documents that hold something.
	n   int
	out []Object
}

// Parse reads the objects of one file's content: a YAML stream, or JSON
// (one object or a stream of them). As kubectl's YAMLOrJSONDecoder does,
// content starting with '{' is read as JSON, and as YAML from where JSON
// fails if at most one JSON object preceded: flow-style YAML and JSON
// documents separated by "---" are read.
func Parse(file string, data []byte) ([]Object, error) {
	p := &parser{file: file}
	var err error
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		err = p.json(data)
	} else {
		_, err = p.yaml(data, 1)
	}
	if err != nil {
		return nil, err
	}
	return p.out, nil
}

// yaml reads a YAML stream whose first line is line first. syntaxFirst
// reports an error reading the stream's first document as YAML.
func (p *parser) yaml(data []byte, first int) (syntaxFirst bool, err error) {
	docs, line, err := splitDocuments(data, first)
	if err != nil {
		return p.n == 0, &InputError{File: p.file, Item: -1, Line: line, Err: err}
	}
	for i, d := range docs {
		j, err := yaml.YAMLToJSON(d.text)
		if err != nil {
			p.n++
			msg := cleanYAMLError(err)
			e := &InputError{File: p.file, Document: p.n, Item: -1, Line: d.line, Err: errors.New(msg)}
			if m := yamlLine.FindStringSubmatch(msg); m != nil {
				if l, err := strconv.Atoi(m[1]); err == nil {
					e.Line = d.line + l - 1
					e.Err = errors.New(msg[len(m[0]):])
				}
			}
			return i == 0, e
		}
		if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
			continue // empty or comments only
		}
		p.n++
		if err := p.add(Source{File: p.file, Document: p.n, Item: -1, Line: d.line + leadingLines(d.text)}, j); err != nil {
			return false, err
		}
	}
	return false, nil
}

// add appends the objects of one document.
func (p *parser) add(src Source, j []byte) error {
	objs, err := objectsOf(src, j, 0, nil)
	p.out = append(p.out, objs...)
	return err
}

// cleanYAMLError drops the prefixes the YAML layers add.
func cleanYAMLError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "error converting YAML to JSON: ")
	return strings.TrimPrefix(s, "yaml: ")
}

// lineAt is the 1-based line of data[off].
func lineAt(data []byte, off int) int {
	return 1 + bytes.Count(data[:min(off, len(data))], []byte("\n"))
}

// json reads a stream of JSON objects, falling back to YAML as kubectl
// does.
func (p *parser) json(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	for count := 0; ; count++ {
		var raw json.RawMessage
		off := int(dec.InputOffset())
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			jerr := &InputError{File: p.file, Document: p.n + 1, Item: -1, Err: err}
			var se *json.SyntaxError
			if errors.As(err, &se) {
				jerr.Line = lineAt(data, int(se.Offset))
			}
			if count > 1 {
				// More than one object: a JSON stream, not YAML.
				return jerr
			}
			// 0 or 1 JSON objects are still ambiguous: the rest is read
			// as YAML, from after the whitespace that ends the last
			// object's line. When YAML fails too at its first document,
			// the JSON error is the one reported, as kubectl does.
			rest := off
			for rest < len(data) && (data[rest] == ' ' || data[rest] == '\t' || data[rest] == '\r') {
				rest++
			}
			if rest < len(data) && data[rest] == '\n' {
				rest++
			}
			n := p.n
			syntaxFirst, yerr := p.yaml(data[rest:], lineAt(data, rest))
			if yerr != nil && syntaxFirst {
				p.n = n
				return jerr
			}
			return yerr
		}
		// The document starts at its first non-space byte.
		ws := len(data[off:]) - len(bytes.TrimLeft(data[off:], " \t\r\n"))
		p.n++
		if err := p.add(Source{File: p.file, Document: p.n, Item: -1, Line: lineAt(data, off+ws)}, raw); err != nil {
			return err
		}
	}
}

// header is what every object is read for first, as the API server reads
// it: member names match case-sensitively.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name         string `json:"name"`
		GenerateName string `json:"generateName"`
		Namespace    string `json:"namespace"`
	} `json:"metadata"`
	Items []jsontext.Value `json:"items"`
}

// maxListDepth is how deep Lists nest: a List may hold Lists, which may
// not hold Lists. (Reading nested Lists re-reads their items at every
// level.)
const maxListDepth = 2

// objectsOf reads one document or List item at List depth depth: an
// object or a List of them. dflt, for the items of a typed List
// (SubnetList), holds the apiVersion and kind of items that name none.
func objectsOf(src Source, j []byte, depth int, dflt *[2]string) ([]Object, error) {
	bad := func(err error) error { return errorAt(src, err) }
	if t := bytes.TrimSpace(j); len(t) == 0 || t[0] != '{' {
		return nil, bad(errors.New("not an object (a Kubernetes manifest is a mapping with apiVersion and kind)"))
	}
	var h header
	if err := review.Unmarshal(j, &h); err != nil {
		return nil, bad(fmt.Errorf("read apiVersion, kind and metadata: %s", describeDecodeError(err)))
	}
	if dflt != nil {
		if h.APIVersion == "" {
			h.APIVersion = dflt[0]
		}
		if h.Kind == "" {
			h.Kind = dflt[1]
		}
	}
	if h.Kind == "" || h.APIVersion == "" {
		return nil, bad(errors.New("apiVersion and kind must be set"))
	}
	if h.Kind == "List" || (strings.HasSuffix(h.Kind, "List") && h.Items != nil) || isSnapshot(h.APIVersion, h.Kind) {
		if depth >= maxListDepth {
			return nil, bad(fmt.Errorf("%s nested in a List nested in a List: Lists nest %d levels deep at most", h.Kind, maxListDepth))
		}
		var idflt *[2]string
		if h.Kind != "List" && !isSnapshot(h.APIVersion, h.Kind) {
			// kubectl fills the items of a typed List from it.
			idflt = &[2]string{h.APIVersion, strings.TrimSuffix(h.Kind, "List")}
		}
		var out []Object
		for i, item := range h.Items {
			isrc := src
			isrc.Item = i
			objs, err := objectsOf(isrc, item, depth+1, idflt)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
		return out, nil
	}
	if h.Metadata.Name == "" && h.Metadata.GenerateName != "" {
		return nil, bad(fmt.Errorf("%s with metadata.generateName %q and no metadata.name cannot be judged offline: the name is chosen by the API server, and kubectl apply refuses such objects too (kubectl create takes them)", h.Kind, h.Metadata.GenerateName))
	}
	return []Object{{
		Source: src, APIVersion: h.APIVersion, Kind: h.Kind,
		Namespace: h.Metadata.Namespace, Name: h.Metadata.Name, Raw: j,
	}}, nil
}

// isSnapshot reports whether a document is a `kubectl ipam snapshot`
// (pkg/snapshot's format): a List of its items, each with apiVersion and
// kind, stripped to what the rules read. (pkg/check sits beside
// pkg/snapshot, not above it, hence the literal names.)
func isSnapshot(apiVersion, kind string) bool {
	return apiVersion == "ipamguard.io/v1alpha1" && kind == "Snapshot"
}

// describeDecodeError renders a decoding error of a manifest with the
// field and the types involved in the manifest's terms, not Go's:
// "metadata.name: must be a string, not an array".
func describeDecodeError(err error) string {
	var se *jsonv2.SemanticError
	if !errors.As(err, &se) || se.GoType == nil {
		return err.Error()
	}
	field := fieldPath(string(se.JSONPointer))
	want := jsonTypeOf(se.GoType)
	got := ""
	switch se.JSONKind {
	case 'n':
		got = "null"
	case 'f', 't':
		got = "a boolean"
	case '"':
		got = "a string"
	case '0':
		got = "a number"
	case '{':
		got = "an object"
	case '[':
		got = "an array"
	}
	var b strings.Builder
	if field != "" {
		b.WriteString(field + ": ")
	}
	switch {
	case want != "" && got != "":
		fmt.Fprintf(&b, "must be %s, not %s", want, got)
	case want != "":
		fmt.Fprintf(&b, "must be %s", want)
	default:
		b.WriteString("invalid value")
	}
	if se.Err != nil {
		b.WriteString(" (" + strings.TrimPrefix(se.Err.Error(), "json: ") + ")")
	}
	return b.String()
}

// fieldPath turns a JSON pointer into a field path: /spec/excludeIps/0
// is spec.excludeIps[0].
func fieldPath(ptr string) string {
	if ptr == "" {
		return ""
	}
	var b strings.Builder
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		if _, err := strconv.Atoi(tok); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

// jsonTypeOf names what JSON value a Go type reads.
func jsonTypeOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return ""
}
