package validate

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ipamguard/ipamguard/pkg/policy"
)

// The limits of what one request may ask the rules to judge. Each is set
// far above anything Kube-OVN's users write, and is documented with its
// reason in docs/rules.md ("Limits and bounded work"). A Pod or workload
// over a limit is refused with one pod-ip-invalid finding naming the
// field and the limit; tenants write those objects, and a value that size
// is an attack or an accident. Cluster-scoped objects (Subnets, IPPools,
// IP objects), which only administrators write, are never refused for
// their size: every rule on them is linear in their size, and what they
// report is summarised past policy.MaxFindings.

// MaxAnnotationAddresses bounds the elements of one ip_address or ip_pool
// value: its addresses, counted as the ','- and ';'-separated elements. A
// Kube-OVN ip_address holds one address per family; an ip_pool one
// address (or one ';' group of one or two) per replica. 4,096 covers a
// StatefulSet of 2,048 dual-stack replicas with fixed addresses, or a
// Deployment pool of 4,096 addresses, where real pools hold tens; the
// largest value that fits in the API server's 256 KiB of annotations holds
// about 20,000.
const MaxAnnotationAddresses = 4096

// addressCount is the number of ',' and ';' separated elements of an
// ip_address or ip_pool value, counted without splitting it.
func addressCount(value string) int {
	return strings.Count(value, ",") + strings.Count(value, ";") + 1
}

// overLimit reports an ip_address or ip_pool value over
// MaxAnnotationAddresses as the one finding of that value, and whether it
// was over.
func overLimit(fs *findings, p *field.Path, value string) bool {
	n := addressCount(value)
	if n <= MaxAnnotationAddresses {
		return false
	}
	fs.add(policy.PodIPInvalid, field.Invalid(p, value, tooMany(n)))
	return true
}

func tooMany(n int) string {
	return "has " + strconv.Itoa(n) + " addresses; ipamguard judges at most " + strconv.Itoa(MaxAnnotationAddresses) +
		" in one annotation, far more than a pod or a StatefulSet's pool needs"
}

// findings collects what a rule finds. Past policy.MaxFindings findings of
// one rule it stops spelling them out and only counts them, per rule: a
// value with thousands of bad elements costs a count per element, not a
// message, and result() reports the count as one policy.More finding.
// Callers building an expensive message ask full(rule) first.
type findings struct {
	list []policy.Finding
	// counts are the findings of each rule so far, spelled out or not.
	counts []ruleCount
}

type ruleCount struct {
	rule policy.RuleID
	n    int
	// path is the field of the first finding not spelled out.
	path string
	// advisory counts the findings not spelled out that never deny.
	advisory int
}

func (fs *findings) count(rule policy.RuleID) *ruleCount {
	for i := range fs.counts {
		if fs.counts[i].rule == rule {
			return &fs.counts[i]
		}
	}
	fs.counts = append(fs.counts, ruleCount{rule: rule})
	return &fs.counts[len(fs.counts)-1]
}

// add records a finding, or only counts it when the rule has
// policy.MaxFindings already.
func (fs *findings) add(rule policy.RuleID, err *field.Error) {
	fs.record(rule, err, false)
}

// addAdvisory records a finding that never denies (policy.Finding.Advisory),
// or only counts it, like add. The "… and N more" finding of a rule is
// advisory only when every finding it stands for is.
func (fs *findings) addAdvisory(rule policy.RuleID, err *field.Error) {
	fs.record(rule, err, true)
}

func (fs *findings) record(rule policy.RuleID, err *field.Error, advisory bool) {
	c := fs.count(rule)
	c.n++
	if c.n > policy.MaxFindings {
		if c.path == "" {
			c.path = err.Field
		}
		if advisory {
			c.advisory++
		}
		return
	}
	fs.list = append(fs.list, policy.Finding{Rule: rule, Err: err, Advisory: advisory})
}

// full reports whether a further finding of rule would only be counted.
func (fs *findings) full(rule policy.RuleID) bool {
	for i := range fs.counts {
		if fs.counts[i].rule == rule {
			return fs.counts[i].n >= policy.MaxFindings
		}
	}
	return false
}

// skip counts a finding of rule on field p that is not spelled out; call
// it instead of add when full(rule).
func (fs *findings) skip(rule policy.RuleID, p *field.Path) {
	c := fs.count(rule)
	c.n++
	if c.path == "" {
		c.path = p.String()
	}
}

// addAll appends another rule's findings as they are.
func (fs *findings) addAll(list []policy.Finding) {
	fs.list = append(fs.list, list...)
}

// empty reports whether nothing was found.
func (fs *findings) empty() bool { return len(fs.list) == 0 && len(fs.counts) == 0 }

// result returns the findings spelled out, then one policy.More finding
// per rule for those that were only counted.
func (fs *findings) result() []policy.Finding {
	out := fs.list
	for _, c := range fs.counts {
		if hidden := c.n - policy.MaxFindings; hidden > 0 {
			more := policy.More(c.rule, c.path, hidden)
			more.Advisory = c.advisory == hidden
			out = append(out, more)
		}
	}
	return out
}

// addf adds the finding mk builds, or only counts it, on the field p,
// when rule is full: past the cap a finding's message is never built.
func (fs *findings) addf(rule policy.RuleID, p *field.Path, mk func() *field.Error) {
	if fs.full(rule) {
		fs.skip(rule, p)
		return
	}
	fs.add(rule, mk())
}
