// Package conformance holds the conformance table of issue 13: shapes taken
// from Kube-OVN's own unit tests, e2e suites and controller semantics, each
// with the verdict Kube-OVN implies, run through both callers of the
// admission pipeline — the webhook's HTTP-level handlers and `kubectl ipam
// check` — by one test. See docs/conformance.md.
package conformance

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Verdicts a row expects (what Kube-OVN implies ipamguard should answer).
const (
	Admit   = "admit"
	Warn    = "admit-with-warning"
	Deny    = "deny"
	dataDir = "testdata"
	// basesFile holds the named cluster states rows start from.
	basesFile = "bases.yaml"
)

// Row is one line of the conformance table.
type Row struct {
	// Name is unique across the table.
	Name string `json:"name"`
	// Source is where in Kube-OVN the shape comes from: a path at v1.16.2
	// or master, and the test name or e2e spec.
	Source string `json:"source"`
	// Why says in one or two sentences what Kube-OVN does with the shape.
	Why string `json:"why"`
	// Base names the cluster state the row starts from (bases.yaml);
	// empty means "default", "none" means no objects at all.
	Base string `json:"base,omitempty"`
	// State are further cluster objects (Subnets, Vpcs, IPs, IPPools,
	// Vips, Namespaces, Nodes, Pods) on top of the base.
	State []json.RawMessage `json:"state,omitempty"`
	// Operation is CREATE (default), UPDATE (Old is the stored object, part
	// of the cluster state) or DELETE (Old is the object deleted; the
	// offline check cannot judge deletions, so only the webhook runs).
	Operation string `json:"operation,omitempty"`
	// Object is the object under judgement, Old the stored one.
	Object json.RawMessage `json:"object,omitempty"`
	Old    json.RawMessage `json:"old,omitempty"`
	// User is the requesting user the webhook sees (default "conformance",
	// exempt from nothing); the offline check has no user.
	User string `json:"user,omitempty"`
	// Config is the webhook configuration file's content; empty means the
	// default configuration.
	Config json.RawMessage `json:"config,omitempty"`
	// Expect is the verdict Kube-OVN implies: admit, admit-with-warning or
	// deny; Rule the rule ID expected among the findings of that verdict
	// (required unless admit).
	Expect string `json:"expect"`
	Rule   string `json:"rule,omitempty"`
	// Defaulted, when set, says whether the defaulting stage rewrites the
	// object (as the Kube-OVN controller would format it).
	Defaulted *bool `json:"defaulted,omitempty"`
	// After, when set, is part of the object as the defaulting webhook
	// leaves it: every field given must be there with that value (lists
	// compared whole). Only the webhook side hands out the patched object.
	After json.RawMessage `json:"after,omitempty"`
	// Divergence names the issue 13 item ("false-alarm 1", "miss 4") or a
	// new finding ("new: ...") when ipamguard today does not give Expect;
	// Today is then what it gives ("deny subnet-exclude-in-use",
	// "admit"), asserted so that the row flips when the rule is fixed.
	Divergence string `json:"divergence,omitempty"`
	Today      string `json:"today,omitempty"`
	// Stricter, on a deny row whose object Kube-OVN itself accepts (and
	// then duplicates an address or breaks routing), names that harm:
	// ipamguard is stricter than Kube-OVN there on purpose.
	Stricter string `json:"stricter,omitempty"`

	// file is the data file the row was read from.
	file string
}

// file is the layout of a data file.
type file struct {
	Rows []Row `json:"rows"`
}

// loadBases reads the named cluster states.
func loadBases() (map[string][]json.RawMessage, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, basesFile))
	if err != nil {
		return nil, err
	}
	var bases map[string][]json.RawMessage
	if err := yaml.UnmarshalStrict(data, &bases); err != nil {
		return nil, fmt.Errorf("%s: %w", basesFile, err)
	}
	bases["none"] = nil
	out := make(map[string][]json.RawMessage, len(bases))
	for name := range bases {
		objs, err := expandBase(bases, name, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", basesFile, err)
		}
		out[name] = objs
	}
	return out, nil
}

// expandBase resolves the {include: <base>} elements of a base.
func expandBase(bases map[string][]json.RawMessage, name string, depth int) ([]json.RawMessage, error) {
	if depth > 8 {
		return nil, fmt.Errorf("base %s: includes nest too deep", name)
	}
	objs, ok := bases[name]
	if !ok {
		return nil, fmt.Errorf("unknown base %q", name)
	}
	var out []json.RawMessage
	for _, raw := range objs {
		var inc struct {
			Include string `json:"include"`
		}
		if err := json.Unmarshal(raw, &inc); err == nil && inc.Include != "" {
			more, err := expandBase(bases, inc.Include, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
			continue
		}
		out = append(out, raw)
	}
	return out, nil
}

// loadRows reads every data file but the bases, in lexical order.
func loadRows() ([]Row, error) {
	paths, err := filepath.Glob(filepath.Join(dataDir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var rows []Row
	for _, p := range paths {
		if filepath.Base(p) == basesFile {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var f file
		if err := yaml.UnmarshalStrict(data, &f); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		for i := range f.Rows {
			f.Rows[i].file = filepath.Base(p)
		}
		rows = append(rows, f.Rows...)
	}
	return rows, nil
}

// verdict is what one caller made of a row's object.
type verdict struct {
	// Verdict is admit, admit-with-warning or deny, from the rules'
	// findings only (defaulting warnings do not count).
	Verdict string
	// DenyRules and WarnRules are the rule IDs of the denial causes and of
	// the rule warnings, sorted, without repeats.
	DenyRules, WarnRules []string
	// Defaulted is true when the defaulting stage rewrote the object.
	Defaulted bool
	// Messages are the rule messages, for failure reports.
	Messages []string
	// Admitted is the object after defaulting (webhook side only).
	Admitted []byte
}

func (v verdict) String() string {
	s := v.Verdict
	switch v.Verdict {
	case Deny:
		s += " " + strings.Join(v.DenyRules, ",")
	case Warn:
		s += " " + strings.Join(v.WarnRules, ",")
	}
	return s
}

// sameFindings reports whether two callers agree: verdict and rule sets.
func (v verdict) sameFindings(o verdict) bool {
	return v.Verdict == o.Verdict && slices.Equal(v.DenyRules, o.DenyRules) && slices.Equal(v.WarnRules, o.WarnRules) &&
		v.Defaulted == o.Defaulted
}

// matches reports whether v gives verdict want with rule among the
// findings of that verdict ("" matches any).
func (v verdict) matches(want, rule string) bool {
	if v.Verdict != want {
		return false
	}
	switch {
	case rule == "":
		return true
	case want == Deny:
		return slices.Contains(v.DenyRules, rule)
	case want == Warn:
		return slices.Contains(v.WarnRules, rule)
	}
	return false
}

// parseToday splits "deny rule-id" into verdict and rule.
func parseToday(s string) (string, string) {
	f := strings.Fields(s)
	switch len(f) {
	case 0:
		return "", ""
	case 1:
		return f[0], ""
	}
	return f[0], f[1]
}

// divergenceItem is the issue 13 item of a divergence: "false-alarm 1",
// "miss 4", or "new" for findings not in the issue.
func divergenceItem(d string) string {
	if strings.HasPrefix(d, "new") {
		return "new"
	}
	return d
}

// contains reports whether have holds every field of want with its value
// (objects recursively, anything else compared whole).
func contains(have, want any) bool {
	wm, ok := want.(map[string]any)
	if !ok {
		hb, _ := json.Marshal(have)
		wb, _ := json.Marshal(want)
		return string(hb) == string(wb)
	}
	hm, ok := have.(map[string]any)
	if !ok {
		return false
	}
	for k, w := range wm {
		h, ok := hm[k]
		if !ok || !contains(h, w) {
			return false
		}
	}
	return true
}

// afterMatches reports whether the admitted object holds the row's After.
func afterMatches(admitted []byte, after json.RawMessage) (bool, string) {
	var have, want any
	if err := json.Unmarshal(admitted, &have); err != nil {
		return false, err.Error()
	}
	if err := json.Unmarshal(after, &want); err != nil {
		return false, err.Error()
	}
	return contains(have, want), string(admitted)
}

// uniqueSorted returns s sorted without repeats.
func uniqueSorted(s []string) []string {
	sort.Strings(s)
	return slices.Compact(s)
}
