// Package mutate computes the canonical form of Kube-OVN Subnets and of pods'
// static-IP annotations: input with one obvious meaning (upper-case IPv6, host
// bits in a CIDR, spaces, an IPv6 block listed first) is rewritten into the
// form Kube-OVN expects, before the validators judge it.
//
// Defaulting is minimal and reported: only the fields that change are patched
// (RFC 6902, against the raw object, so fields this project does not know stay
// byte-identical), and every change is a Change the webhook returns as a
// warning. It is idempotent, and it never guesses: input that is ambiguous or
// invalid (three blocks, two IPv4 blocks, a gateway outside every block, an
// unparseable address) is left untouched for the validators to refuse.
//
// The functions here are pure: they take values, never clients.
package mutate

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Verbs of a Change, as they read in warnings.
const (
	// Normalised: same meaning, canonical text.
	Normalised = "normalised to"
	// Defaulted: an empty field got its default.
	Defaulted = "defaulted to"
	// Completed: a field got the part it was missing (a dual-stack gateway
	// for the second family).
	Completed = "completed to"
	// Changed: a derived field follows the field it must agree with.
	Changed = "changed to"
)

// Change is one field the defaulter rewrote.
type Change struct {
	// Field is the field path as the validators name it: "spec.cidrBlock",
	// "metadata.annotations[ovn.kubernetes.io/ip_address]".
	Field string
	// Old and New are the values before and after, rendered for reading:
	// "(empty)" for an empty value, quoted when it holds spaces (so that the
	// spaces the defaulter removed show), a list as "[a, b]".
	Old, New string
	// Verb says what happened: Normalised, Defaulted, Completed or Changed.
	Verb string
	// Reason, when set, says where the new value comes from.
	Reason string
}

// String renders the change as the warning the client sees:
// "spec.cidrBlock FD00:10::5/64,10.60.0.7/24 normalised to 10.60.0.0/24,fd00:10::/64".
func (c Change) String() string {
	s := c.Field + " " + c.Old + " " + c.Verb + " " + c.New
	if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	return s
}

// scalar records the change of a string field.
func scalar(field, verb, reason, old, new string) Change {
	return Change{Field: field, Old: show(old), New: show(new), Verb: verb, Reason: reason}
}

// list records the change of a list field.
func list(field, verb, reason string, old, new []string) Change {
	return Change{Field: field, Old: showList(old), New: showList(new), Verb: verb, Reason: reason}
}

// MaxShownBytes is the most of a value a Change shows: a longer value is
// cut, keeping its beginning and its length, and a list keeps the items
// that fit and says how many more there are. A warning is one line a
// person reads (and the API server keeps 4 KiB of warnings per response);
// the same bound as the validators' messages (policy.MaxValueBytes).
const MaxShownBytes = 256

func show(s string) string {
	switch {
	case s == "":
		return "(empty)"
	case len(s) > MaxShownBytes:
		s = cut(s)
	}
	if hasSpace(s) {
		return strconv.Quote(s)
	}
	return s
}

// cut keeps the beginning of a value longer than MaxShownBytes, and its
// length: "10.16.64.1, 10.16.64.2,… (279998 bytes)".
func cut(s string) string {
	if len(s) <= MaxShownBytes {
		return s
	}
	n := MaxShownBytes - 24
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

func hasSpace(s string) bool { return strings.IndexFunc(s, unicode.IsSpace) >= 0 }

// showList renders a list the way Change.Old and New hold it, with the
// items that fit in MaxShownBytes: "[a, b, … and 99998 more]".
func showList(list []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range list {
		s = cut(s)
		if s == "" || hasSpace(s) {
			s = strconv.Quote(s)
		}
		if i > 0 && b.Len()+len(s) > MaxShownBytes {
			b.WriteString(", … and " + strconv.Itoa(len(list)-i) + " more")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s)
	}
	b.WriteByte(']')
	return b.String()
}

// Warnings renders changes as warnings, in order.
func Warnings(changes []Change) []string {
	if len(changes) == 0 {
		return nil
	}
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.String()
	}
	return out
}
