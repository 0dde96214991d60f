package mutate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/ipamguard/ipamguard/pkg/review"
)

// Operation is one RFC 6902 JSON patch operation.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// Patch is an RFC 6902 JSON patch. It only ever sets the fields the
// defaulter changed ("add" replaces an existing member), so the rest of the
// object, fields this project does not know included, stays byte-identical.
type Patch []Operation

// JSON encodes the patch; an empty patch encodes as nil. Values that are
// strings or lists of strings (every value the defaulters write) are
// written straight into a buffer sized once: json.Marshal would double its
// buffer up to a 1.5 MiB excludeIps list and then copy it. The bytes are
// json.Marshal's.
func (p Patch) JSON() ([]byte, error) {
	if len(p) == 0 {
		return nil, nil
	}
	size := 2
	for _, op := range p {
		size += len(`{"op":"","path":"","value":},`) + len(op.Op) + len(op.Path)
		switch v := op.Value.(type) {
		case string:
			size += len(v) + 2
		case []string:
			size += 2
			for _, e := range v {
				size += len(e) + 3
			}
		default:
			size += 64
		}
	}
	b := make([]byte, 0, size)
	b = append(b, '[')
	var err error
	for i, op := range p {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"op":`...)
		b = appendJSONString(b, op.Op)
		b = append(b, `,"path":`...)
		b = appendJSONString(b, op.Path)
		b = append(b, `,"value":`...)
		switch v := op.Value.(type) {
		case string:
			b = appendJSONString(b, v)
		case []string:
			if v == nil {
				b = append(b, "null"...)
				break
			}
			b = append(b, '[')
			for j, e := range v {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, e)
			}
			b = append(b, ']')
		default:
			var vb []byte
			if vb, err = json.Marshal(v); err != nil {
				return nil, fmt.Errorf("%s %s: %w", op.Op, op.Path, err)
			}
			b = append(b, vb...)
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// appendJSONString appends s as json.Marshal writes it: printable ASCII
// without the characters it escapes goes as is, anything else through
// json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Subnet field names in JSON, by field path.
var subnetJSONNames = map[string]string{
	CIDRBlockField:  "cidrBlock",
	GatewayField:    "gateway",
	ProtocolField:   "protocol",
	ExcludeIPsField: "excludeIps",
}

// SubnetPatch defaults a Subnet given as raw JSON (old is the stored object
// of an update, nil on create). An object whose address fields do not have
// the types of the schema is left alone (the API server refuses it).
func SubnetPatch(obj, old []byte) (Patch, []Change, error) {
	fields, ok, err := readSubnet(obj)
	if err != nil || !ok {
		return nil, nil, err
	}
	var oldFields *SubnetFields
	if old != nil {
		f, ok, err := readSubnet(old)
		if err != nil {
			return nil, nil, fmt.Errorf("old object: %w", err)
		}
		if !ok {
			return nil, nil, nil
		}
		oldFields = &f
	}
	out, changes := DefaultSubnet(oldFields, fields)
	var p Patch
	for _, c := range changes {
		var v any
		switch c.Field {
		case CIDRBlockField:
			v = out.CIDRBlock
		case GatewayField:
			v = out.Gateway
		case ProtocolField:
			v = out.Protocol
		case ExcludeIPsField:
			v = out.ExcludeIPs
		}
		p = append(p, Operation{Op: "add", Path: "/spec/" + subnetJSONNames[c.Field], Value: v})
	}
	return p, changes, nil
}

// PodPatch defaults the static-IP annotations of a Pod given as raw JSON.
func PodPatch(obj []byte, resolve Resolver) (Patch, []Change, error) {
	m, err := decode(obj)
	if err != nil {
		return nil, nil, err
	}
	meta, _ := m["metadata"].(map[string]any)
	raw, _ := meta["annotations"].(map[string]any)
	ann := make(map[string]string, len(raw))
	for k, v := range raw {
		s, ok := v.(string)
		if !ok {
			return nil, nil, nil
		}
		ann[k] = s
	}
	set, changes := DefaultPodAnnotations(ann, resolve)
	var p Patch
	for _, c := range set {
		p = append(p, Operation{Op: "add", Path: "/metadata/annotations/" + escapePointer(c.Key), Value: c.Value})
	}
	return p, changes, nil
}

// escapePointer escapes one JSON pointer reference token (RFC 6901).
func escapePointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

func decode(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	return m, nil
}

// subnetAddresses is what readSubnet decodes of a Subnet: the address
// fields, typed as the schema types them, and nothing else.
type subnetAddresses struct {
	Spec *struct {
		CIDRBlock  *string  `json:"cidrBlock"`
		Gateway    *string  `json:"gateway"`
		Protocol   *string  `json:"protocol"`
		ExcludeIPs []string `json:"excludeIps"`
	} `json:"spec"`
}

// subnetDecodeOptions decode as the API server does: member names are
// case-sensitive, unknown members ignored, duplicate names and invalid
// UTF-8 tolerated; string lists get slices of their exact length.
var subnetDecodeOptions = jsonv2.JoinOptions(
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
	jsonv2.WithUnmarshalers(jsonv2.UnmarshalFromFunc(exactStrings)),
)

// readSubnet reads the address fields of a raw Subnet. ok is false when
// there is no spec or a field has another type than the schema's. Only
// those fields are decoded, into their types: a Subnet of 100k excludeIps
// costs its strings once, not a map of interfaces per element.
func readSubnet(raw []byte) (f SubnetFields, ok bool, err error) {
	var s subnetAddresses
	if err := jsonv2.Unmarshal(raw, &s, subnetDecodeOptions); err != nil {
		var syntax *jsontext.SyntacticError
		if errors.As(err, &syntax) {
			return f, false, fmt.Errorf("decode object: %w", err)
		}
		var semantic *jsonv2.SemanticError
		if errors.As(err, &semantic) {
			return f, false, nil // a field of another type: the API server refuses it
		}
		return f, false, fmt.Errorf("decode object: %w", err)
	}
	if s.Spec == nil {
		return f, false, nil
	}
	for _, v := range []struct {
		src *string
		dst *string
	}{{s.Spec.CIDRBlock, &f.CIDRBlock}, {s.Spec.Gateway, &f.Gateway}, {s.Spec.Protocol, &f.Protocol}} {
		if v.src != nil {
			*v.dst = *v.src
		}
	}
	f.ExcludeIPs = s.Spec.ExcludeIPs
	return f, true, nil
}

// exactStrings decodes a JSON array of strings into a slice of exactly its
// length (pkg/review does the same for the pipeline's decodes): the
// default decoder grows a slice by a quarter at a time, allocating five
// times a long list's size.
func exactStrings(dec *jsontext.Decoder, v *[]string) error {
	if dec.PeekKind() != '[' {
		return errors.ErrUnsupported // the default decoder takes it
	}
	raw, err := dec.ReadValue()
	if err != nil {
		return err
	}
	if n := review.CountElements(raw); n > 64 && cap(*v) < n {
		*v = make([]string, 0, n)
	}
	return jsonv2.Unmarshal(raw, v, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
}
