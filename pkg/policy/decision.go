package policy

import (
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Finding is one problem a validator found: the rule that found it and a
// field error naming the field, the value and what is wrong.
type Finding struct {
	Rule RuleID
	Err  *field.Error
}

// Decision is what the webhook answers for one request.
type Decision struct {
	// Deny holds the field errors of enforced findings; the request is
	// refused when it is not empty.
	Deny field.ErrorList
	// Warnings are returned to the client (kubectl prints "Warning: ...").
	Warnings []string
	// Audit maps audit annotation keys (the rule ID; the API server prefixes
	// the webhook name, giving "vsubnet.ipamguard.io/subnet-overlap") to
	// messages.
	Audit map[string]string
}

// Policy turns findings into a decision.
type Policy struct {
	// Actions overrides the default action per rule.
	Actions map[RuleID]Action
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

// Decide applies each finding's action.
func (p *Policy) Decide(findings []Finding) Decision {
	var d Decision
	for _, f := range findings {
		switch p.Action(f.Rule) {
		case Off:
			continue
		case Warn:
			msg := "[" + string(f.Rule) + "] " + f.Err.Error()
			d.Warnings = append(d.Warnings, msg)
			if d.Audit == nil {
				d.Audit = map[string]string{}
			}
			d.Audit[AuditKey(f.Rule)] = f.Err.Error()
		default:
			e := *f.Err
			e.Detail += " [" + string(f.Rule) + "]"
			d.Deny = append(d.Deny, &e)
			if d.Audit == nil {
				d.Audit = map[string]string{}
			}
			d.Audit[AuditKey(f.Rule)] = f.Err.Error()
		}
	}
	return d
}

// AuditKey is the audit annotation key of a rule. Webhooks may only send
// keys without a prefix; the API server adds "<webhook name>/".
func AuditKey(id RuleID) string { return string(id) }
