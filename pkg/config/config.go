// Package config reads ipamguard's configuration file: the Kube-OVN defaults
// the rules must agree with, and per-rule actions.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

// File is the YAML layout of the configuration file. Unknown keys are errors.
type File struct {
	// Mode is the cluster-wide mode: enforce (default), audit or off.
	Mode word `json:"mode,omitempty"`
	// Profile picks the rules' default actions: default, or multi-tenant
	// (the tenancy rules enforce). A namespace's ipamguard.io/profile
	// label overrides it for that namespace.
	Profile string `json:"profile,omitempty"`
	// Thresholds of the exhaustion rules.
	Thresholds thresholdsFile `json:"thresholds,omitempty"`
	// Rules overrides the default action of rules by ID.
	Rules map[string]word `json:"rules,omitempty"`
	// Defaults mirror the Kube-OVN controller's flags.
	Defaults DefaultsFile `json:"defaults,omitempty"`
	// Exempt lists requests that are never judged.
	Exempt Exempt `json:"exempt,omitempty"`
	// PendingHolderTimeout is how long after its creation a pod that asked
	// for a fixed address, and that Kube-OVN has not allocated, holds the
	// address against others ("5m"; default 5m).
	PendingHolderTimeout string `json:"pendingHolderTimeout,omitempty"`
	// Messages says what denials may tell.
	Messages Messages `json:"messages,omitempty"`
}

// Messages is the messages section of the file.
type Messages struct {
	// CrossNamespaceNames names holders in other namespaces in the
	// messages of namespaced requests ("held by pod tenant-b/db"). Off by
	// default: a tenant learns only that another namespace holds the
	// address. Turn it on for single-tenant clusters.
	CrossNamespaceNames bool `json:"crossNamespaceNames,omitempty"`
}

// word is a YAML scalar that may be written unquoted as off: YAML 1.1 reads
// that as the boolean false, which a user never means here.
type word string

func (w *word) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "false":
		*w = "off"
		return nil
	case "true":
		*w = "true"
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s is not a word such as enforce, warn, audit or off", b)
	}
	if s == "false" { // unquoted off, already turned into text by the YAML layer
		s = "off"
	}
	*w = word(s)
	return nil
}

// thresholdsFile distinguishes an absent threshold from 0.
type thresholdsFile struct {
	Warning  *int64 `json:"warning,omitempty"`
	Critical *int64 `json:"critical,omitempty"`
}

// DefaultsFile is the defaults section of the file.
type DefaultsFile struct {
	VPC         string `json:"vpc,omitempty"`
	Subnet      string `json:"subnet,omitempty"`
	JoinSubnet  string `json:"joinSubnet,omitempty"`
	JoinCIDR    string `json:"joinCIDR,omitempty"`
	ServiceCIDR string `json:"serviceCIDR,omitempty"`
}

// Exempt lists namespaces, users and groups whose requests are not judged.
type Exempt struct {
	Namespaces []string `json:"namespaces,omitempty"`
	Users      []string `json:"users,omitempty"`
	Groups     []string `json:"groups,omitempty"`
}

// Config is a validated configuration.
type Config struct {
	Thresholds settings.Thresholds
	Defaults   settings.Defaults
	// Policy carries the mode, per-rule actions and exemptions.
	Policy *policy.Policy
	// PendingHolderTimeout is how long a pending pod holds its fixed
	// address after its creation.
	PendingHolderTimeout time.Duration
	// Messages says what denials may tell.
	Messages Messages
}

// Default returns the configuration used without a file: Kube-OVN's fresh
// install defaults and every rule at its default action.
func Default() *Config {
	return &Config{
		Thresholds: settings.DefaultThresholds(),
		Defaults:   settings.FreshInstall(),
		Policy:     &policy.Policy{Mode: policy.ModeEnforce},

		PendingHolderTimeout: settings.DefaultPendingHolderTimeout,
	}
}

// Load reads and validates a configuration file. An empty path returns
// Default().
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse validates configuration YAML. Every problem is reported, each
// naming its key and value.
func Parse(data []byte) (*Config, error) {
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	c := Default()
	var errs []error
	mode := policy.ModeEnforce
	if f.Mode != "" {
		m, ok := policy.ParseMode(string(f.Mode))
		if !ok {
			errs = append(errs, fmt.Errorf("mode: %q is not one of enforce, audit, off", f.Mode))
		}
		mode = m
	}
	warning, critical := int64(c.Thresholds.Warning), int64(c.Thresholds.Critical)
	if f.Thresholds.Warning != nil {
		warning = *f.Thresholds.Warning
	}
	if f.Thresholds.Critical != nil {
		critical = *f.Thresholds.Critical
	}
	if critical < 0 || warning < critical {
		errs = append(errs, fmt.Errorf("thresholds: need 0 <= critical (%d) <= warning (%d)", critical, warning))
	} else {
		c.Thresholds = settings.Thresholds{Warning: uint64(warning), Critical: uint64(critical)}
	}
	profile, ok := policy.ParseProfile(f.Profile)
	if !ok {
		errs = append(errs, fmt.Errorf("profile: %q is not one of default, multi-tenant", f.Profile))
	}
	actions := map[policy.RuleID]policy.Action{}
	for id, a := range f.Rules {
		if _, ok := policy.DefaultAction(policy.RuleID(id)); !ok {
			errs = append(errs, fmt.Errorf("rules: unknown rule %q", id))
			continue
		}
		switch policy.Action(a) {
		case policy.Enforce, policy.Warn, policy.Off:
			actions[policy.RuleID(id)] = policy.Action(a)
		default:
			errs = append(errs, fmt.Errorf("rules.%s: action %q is not one of enforce, warn, off", id, a))
		}
	}
	for _, ns := range f.Exempt.Namespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("exempt.namespaces: %q is not a namespace name: %s", ns, strings.Join(msgs, "; ")))
		}
	}
	c.Policy = &policy.Policy{Mode: mode, Actions: actions, Exempt: policy.Exemptions(f.Exempt), Profile: profile}
	if f.PendingHolderTimeout != "" {
		d, err := time.ParseDuration(f.PendingHolderTimeout)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("pendingHolderTimeout: %q is not a duration such as 5m", f.PendingHolderTimeout))
		case d <= 0:
			errs = append(errs, fmt.Errorf("pendingHolderTimeout: %q must be positive", f.PendingHolderTimeout))
		default:
			c.PendingHolderTimeout = d
		}
	}
	c.Messages = f.Messages
	d := &c.Defaults
	setIf(&d.VPC, f.Defaults.VPC)
	setIf(&d.Subnet, f.Defaults.Subnet)
	setIf(&d.JoinSubnet, f.Defaults.JoinSubnet)
	if f.Defaults.JoinCIDR != "" {
		p, err := parseCIDRs("defaults.joinCIDR", f.Defaults.JoinCIDR)
		errs = append(errs, err)
		d.JoinCIDR = p
	}
	if f.Defaults.ServiceCIDR != "" {
		p, err := parseCIDRs("defaults.serviceCIDR", f.Defaults.ServiceCIDR)
		errs = append(errs, err)
		d.ServiceCIDR = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// parseCIDRs parses a comma-separated list of prefixes (dual stack allowed).
func parseCIDRs(key, s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a CIDR", key, part)
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("%s: %q has host bits set; the network address is %s", key, part, p.Masked())
		}
		out = append(out, p)
	}
	return out, nil
}
