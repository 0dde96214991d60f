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

// JSON encodes the patch; an empty patch encodes as nil.
func (p Patch) JSON() ([]byte, error) {
	if len(p) == 0 {
		return nil, nil
	}
	return json.Marshal(p)
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
