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
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
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
// error, object without a kind): nothing is judged.
type InputError struct {
	// File, Document (0 when the whole file) and Line (0 when unknown)
	// locate the problem.
	File     string
	Document int
	Line     int
	Err      error
}

func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Document > 0 {
		fmt.Fprintf(&b, ": document %d", e.Document)
	}
	b.WriteString(": ")
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
// order), or "-" for standard input. Each document is one object; a List
// (kind List or any kind ending in "List" with items) is expanded into
// its items.
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
			return nil, &InputError{File: StdinName, Err: errors.New("standard input can be read only once")}
		}
		rd.stdinUsed = true
		data, err := io.ReadAll(rd.Stdin)
		if err != nil {
			return nil, &InputError{File: StdinName, Err: err}
		}
		return Parse(StdinName, data)
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, &InputError{File: p, Err: unwrapPathError(err)}
	}
	if !info.IsDir() {
		return readFile(p)
	}
	var out []Object
	found := false
	// WalkDir visits entries in lexical order.
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return &InputError{File: path, Err: unwrapPathError(err)}
		}
		if d.IsDir() || !manifestExt(path) {
			return nil
		}
		found = true
		objs, err := readFile(path)
		out = append(out, objs...)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, &InputError{File: p, Err: errors.New("directory holds no .yaml, .yml or .json file")}
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

func readFile(path string) ([]Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &InputError{File: path, Err: unwrapPathError(err)}
	}
	return Parse(path, data)
}

// document is one YAML document of a file and the line it starts on.
type document struct {
	text []byte
	line int
}

// splitDocuments splits a YAML stream at "---" lines, keeping each
// document's first line number.
func splitDocuments(data []byte) []document {
	var docs []document
	start, line := 1, 0
	var cur bytes.Buffer
	for len(data) > 0 {
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i+1], data[i+1:]
		} else {
			l, data = data, nil
		}
		line++
		trimmed := bytes.TrimRight(l, " \t\r\n")
		if bytes.Equal(trimmed, []byte("---")) || bytes.HasPrefix(trimmed, []byte("--- ")) {
			docs = append(docs, document{text: bytes.Clone(cur.Bytes()), line: start})
			cur.Reset()
			start = line + 1
			continue
		}
		cur.Write(l)
	}
	return append(docs, document{text: cur.Bytes(), line: start})
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

// Parse reads the objects of one file's content. JSON content may hold
// one object or a stream of them.
func Parse(file string, data []byte) ([]Object, error) {
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		return parseJSON(file, data)
	}
	var out []Object
	n := 0
	for _, d := range splitDocuments(data) {
		j, err := yaml.YAMLToJSON(d.text)
		if err != nil {
			n++
			msg := cleanYAMLError(err)
			e := &InputError{File: file, Document: n, Line: d.line, Err: errors.New(msg)}
			if m := yamlLine.FindStringSubmatch(msg); m != nil {
				if l, err := strconv.Atoi(m[1]); err == nil {
					e.Line = d.line + l - 1
					e.Err = errors.New(msg[len(m[0]):])
				}
			}
			return nil, e
		}
		if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
			continue // empty or comments only
		}
		n++
		objs, err := objectsOf(Source{File: file, Document: n, Item: -1, Line: d.line + leadingLines(d.text)}, j)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// cleanYAMLError drops the prefixes the YAML layers add.
func cleanYAMLError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "error converting YAML to JSON: ")
	return strings.TrimPrefix(s, "yaml: ")
}

func parseJSON(file string, data []byte) ([]Object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []Object
	for n := 1; ; n++ {
		var raw json.RawMessage
		off := dec.InputOffset()
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		line := 1 + bytes.Count(data[:off], []byte("\n"))
		if err != nil {
			e := &InputError{File: file, Document: n, Err: err}
			var se *json.SyntaxError
			if errors.As(err, &se) {
				e.Line = 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
			}
			return nil, e
		}
		// The document starts at its first non-space byte.
		line += bytes.Count(data[off:off+int64(len(raw))-int64(len(bytes.TrimLeft(data[off:off+int64(len(raw))], " \t\r\n")))], []byte("\n"))
		objs, err := objectsOf(Source{File: file, Document: n, Item: -1, Line: line}, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
}

// header is what every object is read for first.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

// objectsOf reads one document: an object or a List of them.
func objectsOf(src Source, j []byte) ([]Object, error) {
	bad := func(err error) error {
		return &InputError{File: src.File, Document: src.Document, Line: src.Line, Err: err}
	}
	if t := bytes.TrimSpace(j); len(t) == 0 || t[0] != '{' {
		return nil, bad(errors.New("not an object (a Kubernetes manifest is a mapping with apiVersion and kind)"))
	}
	var h header
	if err := json.Unmarshal(j, &h); err != nil {
		return nil, bad(fmt.Errorf("read apiVersion, kind and metadata: %w", err))
	}
	if h.Kind == "" || h.APIVersion == "" {
		return nil, bad(errors.New("apiVersion and kind must be set"))
	}
	if h.Kind == "List" || (strings.HasSuffix(h.Kind, "List") && h.Items != nil) {
		var out []Object
		for i, item := range h.Items {
			isrc := src
			isrc.Item = i
			objs, err := objectsOf(isrc, item)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
		return out, nil
	}
	return []Object{{
		Source: src, APIVersion: h.APIVersion, Kind: h.Kind,
		Namespace: h.Metadata.Namespace, Name: h.Metadata.Name, Raw: j,
	}}, nil
}
