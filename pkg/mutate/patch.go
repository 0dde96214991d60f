package mutate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
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

// readSubnet reads the address fields of a raw Subnet. ok is false when
// there is no spec or a field has another type than the schema's.
func readSubnet(raw []byte) (f SubnetFields, ok bool, err error) {
	m, err := decode(raw)
	if err != nil {
		return f, false, err
	}
	spec, isMap := m["spec"].(map[string]any)
	if !isMap {
		return f, false, nil
	}
	for _, s := range []struct {
		name string
		dst  *string
	}{{"cidrBlock", &f.CIDRBlock}, {"gateway", &f.Gateway}, {"protocol", &f.Protocol}} {
		switch v := spec[s.name].(type) {
		case nil:
		case string:
			*s.dst = v
		default:
			return f, false, nil
		}
	}
	switch v := spec["excludeIps"].(type) {
	case nil:
	case []any:
		for _, e := range v {
			s, isString := e.(string)
			if !isString {
				return f, false, nil
			}
			f.ExcludeIPs = append(f.ExcludeIPs, s)
		}
	default:
		return f, false, nil
	}
	return f, true, nil
}
