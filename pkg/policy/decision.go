package policy

import (
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Finding is one problem a validator found: the rule that found it and a
// field error naming the field, the value and what is wrong.
type Finding struct {
	Rule RuleID
	Err  *field.Error
	// Advisory findings never deny: an enforce action acts as warn. The
	// exhaustion rules use it so that "enforce" refuses only requests that
	// cannot be served, not every threshold crossing.
	Advisory bool
}

// Mode is how a request is judged: the cluster's mode, or a namespace's
// from its ModeLabel.
type Mode string

// Modes.
const (
	// ModeEnforce applies each rule's action.
	ModeEnforce Mode = "enforce"
	// ModeAudit turns every denial into a warning that says it would be
	// denied, with an audit annotation: the safe way to roll out.
	ModeAudit Mode = "audit"
	// ModeOff judges nothing.
	ModeOff Mode = "off"
)

// ModeLabel on a namespace overrides the cluster mode for the objects in
// it (the Pod Security Admission pattern).
const ModeLabel = "ipamguard.io/mode"

// ParseMode validates a mode name.
func ParseMode(s string) (Mode, bool) {
	switch m := Mode(s); m {
	case ModeEnforce, ModeAudit, ModeOff:
		return m, true
	}
	return "", false
}

// Decision is what the webhook answers for one request.
type Decision struct {
	// Mode is the mode the request was judged in.
	Mode Mode
	// Deny holds the field errors of enforced findings; the request is
	// refused when it is not empty.
	Deny field.ErrorList
	// Warnings are returned to the client (kubectl prints "Warning: ...").
	Warnings []string
	// Audit maps audit annotation keys (the rule ID; the API server prefixes
	// the webhook name, giving "vsubnet.ipamguard.io/subnet-overlap") to
	// messages.
	Audit map[string]string
	// Applied lists, per finding that was not off, the rule and the action
	// taken (for metrics).
	Applied []Applied
}

// Applied records the action one finding got, as the client sees it (the
// check's JSON report prints it as is).
type Applied struct {
	// Rule is the stable rule ID.
	Rule RuleID `json:"rule"`
	// Action is enforce (denies), warn, or "audit" for a denial turned
	// into a warning.
	Action string `json:"action"`
	// Field is the path of the field the finding is about, e.g.
	// spec.cidrBlock.
	Field string `json:"field"`
	// Message is the text the client gets for it: the warning starting
	// with "[rule]", or the denial's field error (one cause of the 422)
	// ending in "[rule]".
	Message string `json:"message"`
}

// Exemptions are requests that are never judged.
type Exemptions struct {
	Namespaces []string
	Users      []string
	Groups     []string
}

// Policy turns findings into a decision.
type Policy struct {
	// Mode is the cluster-wide mode; empty means enforce.
	Mode Mode
	// Actions overrides the default action per rule.
	Actions map[RuleID]Action
	// Exempt lists namespaces, users and groups that are never judged.
	Exempt Exemptions
}

// Subject is who and where a request is, as far as the policy cares.
type Subject struct {
	// Namespace of the object; empty for cluster-scoped objects.
	Namespace string
	// NamespaceLabels are the labels of that namespace, if known.
	NamespaceLabels map[string]string
	User            string
	Groups          []string
}

// Action returns the action in force for a rule.
func (p *Policy) Action(id RuleID) Action {
	if p != nil {
		if a, ok := p.Actions[id]; ok {
			return a
		}
	}
	if a, ok := defaults[id]; ok {
		return a
	}
	return Enforce
}

// Exempted reports whether the subject is never judged.
func (p *Policy) Exempted(s Subject) bool {
	if p == nil {
		return false
	}
	if s.Namespace != "" && slices.Contains(p.Exempt.Namespaces, s.Namespace) {
		return true
	}
	if slices.Contains(p.Exempt.Users, s.User) {
		return true
	}
	for _, g := range s.Groups {
		if slices.Contains(p.Exempt.Groups, g) {
			return true
		}
	}
	return false
}

// ModeFor resolves the mode of a subject: a namespaced object follows its
// namespace's ModeLabel when that holds a valid mode, otherwise the
// cluster mode.
func (p *Policy) ModeFor(s Subject) Mode {
	if s.Namespace != "" {
		if m, ok := ParseMode(s.NamespaceLabels[ModeLabel]); ok {
			return m
		}
	}
	if p == nil || p.Mode == "" {
		return ModeEnforce
	}
	return p.Mode
}

// Decide applies each finding's action under the subject's mode. Exempted
// subjects and mode off get an empty decision.
func (p *Policy) Decide(s Subject, findings []Finding) Decision {
	d := Decision{Mode: p.ModeFor(s)}
	if d.Mode == ModeOff || len(findings) == 0 || p.Exempted(s) {
		return d
	}
	for _, f := range findings {
		action := p.Action(f.Rule)
		if action == Off {
			continue
		}
		if action == Enforce && f.Advisory {
			action = Warn
		}
		if d.Audit == nil {
			d.Audit = map[string]string{}
		}
		key := AuditKey(f.Rule)
		if prev, ok := d.Audit[key]; ok {
			d.Audit[key] = prev + "; " + f.Err.Error()
		} else {
			d.Audit[key] = f.Err.Error()
		}
		switch {
		case action == Warn:
			w := "[" + string(f.Rule) + "] " + f.Err.Error()
			d.Warnings = append(d.Warnings, w)
			d.Applied = append(d.Applied, Applied{Rule: f.Rule, Action: string(Warn), Field: f.Err.Field, Message: w})
		case d.Mode == ModeAudit:
			w := "[" + string(f.Rule) + "] would be denied (audit mode): " + f.Err.Error()
			d.Warnings = append(d.Warnings, w)
			d.Applied = append(d.Applied, Applied{Rule: f.Rule, Action: string(ModeAudit), Field: f.Err.Field, Message: w})
		default:
			e := *f.Err
			e.Detail += " [" + string(f.Rule) + "]"
			d.Deny = append(d.Deny, &e)
			d.Applied = append(d.Applied, Applied{Rule: f.Rule, Action: string(Enforce), Field: e.Field, Message: e.Error()})
		}
	}
	return d
}

// AuditKey is the audit annotation key of a rule. Webhooks may only send
// keys without a prefix; the API server adds "<webhook name>/".
func AuditKey(id RuleID) string { return string(id) }
