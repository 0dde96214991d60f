package validate

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

// Past policy.MaxFindings findings of a rule, findings are counted, and
// the count comes back as one policy.More finding per rule.
func TestFindingsAreCappedPerRule(t *testing.T) {
	t.Parallel()
	p := field.NewPath("spec", "excludeIps")
	var fs findings
	for i := range 25 {
		fs.add(policy.SubnetInvalid, field.Invalid(p.Index(i), "x", "bad"))
	}
	for range 3 {
		fs.add(policy.SubnetOverlap, field.Invalid(p, "x", "overlaps"))
	}
	if !fs.full(policy.SubnetInvalid) || fs.full(policy.SubnetOverlap) {
		t.Fatal("full() disagrees with the counts")
	}
	fs.skip(policy.SubnetInvalid, p)
	got := fs.result()
	if len(got) != policy.MaxFindings+3+1 {
		t.Fatalf("%d findings", len(got))
	}
	last := got[len(got)-1]
	if last.Rule != policy.SubnetInvalid || last.More != 6 || last.Err.Field != "spec.excludeIps[20]" {
		t.Fatalf("summary %+v %v", last, last.Err)
	}
	built := 0
	fs.addf(policy.SubnetInvalid, p, func() *field.Error { built++; return field.Invalid(p, "x", "bad") })
	if built != 0 {
		t.Error("a message was built past the cap")
	}
}

// The ratchet finds the entries an old list already had, by position or
// by value, for short and long lists alike.
func TestRatchet(t *testing.T) {
	t.Parallel()
	for _, n := range []int{3, 1000} {
		old := make([]string, n)
		for i := range old {
			old[i] = "e" + strconv.Itoa(i)
		}
		r := ratchet{old: old}
		if !r.has(0, "e0") || !r.has(1, "e2") || r.has(2, "new") || !r.has(n+5, "e1") {
			t.Errorf("n=%d: wrong answers", n)
		}
	}
	var none ratchet
	if none.has(0, "x") {
		t.Error("an empty old list has entries")
	}
}

// A rule looping over a long value stops once the request's context is
// done: the pipeline then discards what it found.
func TestRulesStopWhenTheContextIsDone(t *testing.T) {
	t.Parallel()
	store := fixture()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	value := strings.TrimSuffix(strings.Repeat("z,", 4000), ",")
	count := func(c Context) int {
		in := PodInput{Namespace: "apps", Annotations: map[string]string{"ovn.kubernetes.io/ip_pool": value}, Ordinal: -1, Meta: field.NewPath("metadata")}
		n := 0
		store.Read(func(r inventory.Reader) {
			c.Inventory = r
			for _, f := range PodTemplate(c, nil, &in).Findings {
				n += max(f.More, 1)
			}
		})
		return n
	}
	d := settings.FreshInstall()
	all, stopped := count(Context{Defaults: d}), count(Context{Defaults: d, Ctx: ctx})
	if all != 4000 || stopped >= 4000 || stopped == 0 {
		t.Fatalf("problems counted: %d without a deadline, %d with a done context", all, stopped)
	}
}

// The "… and N more" finding of a rule denies only when one of the
// findings it stands for would have (review finding: 21 advisory
// ip_family findings must not deny).
func TestMoreIsAdvisoryOnlyWhenAllHiddenAre(t *testing.T) {
	p := field.NewPath("metadata", "annotations")
	for _, c := range []struct {
		name          string
		denyingHidden bool
		wantAdvisory  bool
	}{{"all advisory", false, true}, {"one denying among the hidden", true, false}} {
		var fs findings
		for range policy.MaxFindings + 1 {
			fs.addAdvisory(policy.PodIPInvalid, field.Invalid(p, "x", "advisory"))
		}
		if c.denyingHidden {
			fs.add(policy.PodIPInvalid, field.Invalid(p, "x", "denies"))
		}
		out := fs.result()
		more := out[len(out)-1]
		if more.More == 0 || more.Advisory != c.wantAdvisory {
			t.Errorf("%s: summary finding %+v, want advisory %v", c.name, more, c.wantAdvisory)
		}
	}
}
