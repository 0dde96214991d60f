package policy

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

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
	// More, when positive, makes the finding a summary: it stands for More
	// problems of Rule on Err's field that the rule counted but did not
	// spell out (past MaxFindings), and Err says "… and More more". Build
	// it with policy.More.
	More int
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
	// Profile picks the default actions of rules not in Actions; empty
	// means ProfileDefault. A namespace's ProfileLabel overrides it.
	Profile Profile
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

// Action returns the action in force for a rule under the cluster's
// profile.
func (p *Policy) Action(id RuleID) Action {
	var prof Profile
	if p != nil {
		prof = p.Profile
	}
	return p.action(prof, id)
}

// ActionFor returns the action in force for a rule for a subject: an
// explicit per-rule action wins, then the profile of the subject's
// namespace (ProfileLabel), then the cluster's profile.
func (p *Policy) ActionFor(s Subject, id RuleID) Action {
	return p.action(p.ProfileFor(s), id)
}

// ProfileFor resolves the profile of a subject: a namespaced object
// follows its namespace's ProfileLabel when that holds a valid profile,
// otherwise the cluster's.
func (p *Policy) ProfileFor(s Subject) Profile {
	if s.Namespace != "" {
		if v, ok := s.NamespaceLabels[ProfileLabel]; ok {
			if prof, ok := ParseProfile(v); ok {
				return prof
			}
		}
	}
	if p == nil || p.Profile == "" {
		return ProfileDefault
	}
	return p.Profile
}

func (p *Policy) action(prof Profile, id RuleID) Action {
	if p != nil {
		if a, ok := p.Actions[id]; ok {
			return a
		}
	}
	if a, ok := ProfileAction(prof, id); ok {
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
//
// The decision's size is bounded whatever the number of findings: at most
// MaxFindings denial causes, MaxFindings warnings and MaxFindings audit
// messages per rule are spelled out, each with its value and detail cut to
// MaxValueBytes and MaxDetailBytes (Bound); the rest are counted in one
// "… and N more" entry each. Every message is rendered once, and only when
// it is kept, so the work is linear in the number of findings.
func (p *Policy) Decide(s Subject, findings []Finding) Decision {
	d := Decision{Mode: p.ModeFor(s)}
	if d.Mode == ModeOff || len(findings) == 0 || p.Exempted(s) {
		return d
	}
	var deny, warn overflow
	var audit auditLog
	for i := range findings {
		f := &findings[i]
		action := p.ActionFor(s, f.Rule)
		if action == Off {
			continue
		}
		if action == Enforce && f.Advisory {
			action = Warn
		}
		var e *field.Error
		msg := func() string {
			if e == nil {
				e = Bound(f.Err)
			}
			return e.Error()
		}
		audit.add(f.Rule, f.count(), msg)
		switch {
		case action == Warn || d.Mode == ModeAudit:
			if len(d.Warnings) >= MaxFindings {
				warn.add(f, action != Warn)
				continue
			}
			act, w := string(Warn), "["+string(f.Rule)+"] "+msg()
			if action != Warn {
				act, w = string(ModeAudit), "["+string(f.Rule)+"] would be denied (audit mode): "+msg()
			}
			d.Warnings = append(d.Warnings, w)
			d.Applied = append(d.Applied, Applied{Rule: f.Rule, Action: act, Field: f.Err.Field, Message: w})
		default:
			if len(d.Deny) >= MaxFindings {
				deny.add(f, false)
				continue
			}
			msg()
			c := *e
			c.Detail += " [" + string(f.Rule) + "]"
			d.Deny = append(d.Deny, &c)
			d.Applied = append(d.Applied, Applied{Rule: f.Rule, Action: string(Enforce), Field: c.Field, Message: c.Error()})
		}
	}
	if warn.n > 0 {
		w := warn.rules() + " " + moreDetail(warn.n)
		act := string(Warn)
		if warn.audit {
			w += " (audit mode: would be denied)"
			act = string(ModeAudit)
		}
		d.Warnings = append(d.Warnings, w)
		d.Applied = append(d.Applied, Applied{Rule: warn.ids[0], Action: act, Field: warn.field, Message: w})
	}
	if deny.n > 0 {
		e := &field.Error{Type: field.ErrorTypeInvalid, Field: deny.field, BadValue: field.OmitValueType{}, Detail: moreDetail(deny.n) + " " + deny.rules()}
		d.Deny = append(d.Deny, e)
		d.Applied = append(d.Applied, Applied{Rule: deny.ids[0], Action: string(Enforce), Field: e.Field, Message: e.Error()})
	}
	d.Audit = audit.annotations()
	return d
}

// MaxFindings is how many findings a decision spells out per answer: at
// most this many denial causes, this many warnings and, per rule, this
// many audit messages; the rest are summed up in one "… and N more"
// entry. Rules stop describing problems past it too (see More). Nobody
// reads a hundred causes; a request with thousands of bad elements must
// not cost thousands of messages.
const MaxFindings = 20

// MaxValueBytes is the longest value a message quotes; a longer one is
// cut, keeping its beginning and its length ("… (219998 bytes)"), and a
// list keeps the items that fit ("… and 99998 more"). It is long enough
// for any dual-stack CIDR, gateway or address pair, and for the first
// dozen addresses of a list.
const MaxValueBytes = 256

// MaxDetailBytes is the longest detail (the text after the value) of a
// message; rules name elements, not whole values, so only a message that
// names a very long element is cut.
const MaxDetailBytes = 1024

// More returns the finding that stands for n findings of rule on the field
// path that the rule counted but did not spell out.
func More(rule RuleID, path string, n int) Finding {
	return Finding{Rule: rule, More: n, Err: &field.Error{Type: field.ErrorTypeInvalid, Field: path,
		BadValue: field.OmitValueType{}, Detail: moreDetail(n)}}
}

func moreDetail(n int) string {
	if n == 1 {
		return "… and 1 more problem not listed"
	}
	return "… and " + strconv.Itoa(n) + " more problems not listed"
}

// count is how many problems the finding stands for.
func (f *Finding) count() int { return max(f.More, 1) }

// overflow counts the findings of one answer that are not spelled out.
type overflow struct {
	n     int
	ids   []RuleID
	field string
	audit bool
}

func (o *overflow) add(f *Finding, audit bool) {
	if o.n == 0 {
		o.field = f.Err.Field
	}
	o.n += f.count()
	o.audit = o.audit || audit
	if !slices.Contains(o.ids, f.Rule) {
		o.ids = append(o.ids, f.Rule)
	}
}

// rules renders the rule IDs of the findings not spelled out: "[a, b]".
func (o *overflow) rules() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range o.ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(id))
	}
	b.WriteByte(']')
	return b.String()
}

// auditLog builds the audit annotations: per rule, the first MaxFindings
// messages joined with "; ", then how many more there were.
type auditLog struct {
	keys    []RuleID
	entries map[RuleID]*auditEntry
}

type auditEntry struct {
	b          strings.Builder
	kept, more int
}

func (a *auditLog) add(rule RuleID, n int, msg func() string) {
	if a.entries == nil {
		a.entries = map[RuleID]*auditEntry{}
	}
	e := a.entries[rule]
	if e == nil {
		e = &auditEntry{}
		a.entries[rule] = e
		a.keys = append(a.keys, rule)
	}
	if e.kept >= MaxFindings {
		e.more += n
		return
	}
	if e.kept > 0 {
		e.b.WriteString("; ")
	}
	e.b.WriteString(msg())
	e.kept++
}

func (a *auditLog) annotations() map[string]string {
	if len(a.keys) == 0 {
		return nil
	}
	out := make(map[string]string, len(a.keys))
	for _, rule := range a.keys {
		e := a.entries[rule]
		if e.more > 0 {
			e.b.WriteString("; ")
			e.b.WriteString(moreDetail(e.more))
		}
		out[AuditKey(rule)] = e.b.String()
	}
	return out
}

// Bound returns e, or a copy whose value and detail are cut to
// MaxValueBytes and MaxDetailBytes: the form every message of a decision
// takes, so no finding repeats a whole annotation or spec value.
func Bound(e *field.Error) *field.Error {
	v, cut := boundValue(e.BadValue)
	long := len(e.Detail) > MaxDetailBytes
	if !cut && !long {
		return e
	}
	c := *e
	c.BadValue = v
	if long {
		c.Detail = shorten(c.Detail, MaxDetailBytes)
	}
	return &c
}

// boundValue cuts a long string or string list value; cut reports whether
// it did.
func boundValue(v any) (out any, cut bool) {
	switch t := v.(type) {
	case string:
		if len(t) <= MaxValueBytes {
			return v, false
		}
		return Shorten(t), true
	case []string:
		return ShortenList(t)
	}
	return v, false
}

// Shorten returns s when it is at most MaxValueBytes long, else its
// beginning and its length: "10.99.0.0,10.99.0.1,… (219998 bytes)".
func Shorten(s string) string { return shorten(s, MaxValueBytes) }

func shorten(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit - 24 // room for the suffix
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// ShortenList returns the items of list that fit in MaxValueBytes (each
// shortened), followed by "… and N more" when some did not; cut reports
// whether anything was left out or shortened. The result is a []string.
func ShortenList(list []string) (out any, cut bool) {
	size := 0
	for i, s := range list {
		size += len(s) + 3 // quotes and comma, as JSON renders them
		if size > MaxValueBytes || len(s) > MaxValueBytes {
			kept := make([]string, 0, i+1)
			for _, x := range list[:i] {
				kept = append(kept, Shorten(x))
			}
			if i == 0 {
				kept = append(kept, Shorten(s))
				i = 1
			}
			if more := len(list) - i; more > 0 {
				kept = append(kept, "… and "+strconv.Itoa(more)+" more")
			}
			return kept, true
		}
	}
	return list, false
}

// AuditKey is the audit annotation key of a rule. Webhooks may only send
// keys without a prefix; the API server adds "<webhook name>/".
func AuditKey(id RuleID) string { return string(id) }
