package validate

import (
	"strings"
	"testing"

	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

// FuzzSubnetRules feeds arbitrary specs to every Subnet rule: bad input must
// never panic, and every finding must name a field and a known rule.
func FuzzSubnetRules(f *testing.F) {
	f.Add("10.70.0.0/24", "", "10.70.0.5", "10.70.0.0/25", "10.70.0.1")
	f.Add("10.80.0.0/24,fd00:80::/64", "10.80.0.1,fd00:80::1", "fd00:80::5..fd00:80::9", "fd00:80::/64", "")
	f.Add("fd00::/127", "fd00::", "", "0.0.0.0/0", "::")
	f.Add("10.0.0.5/8,,", "x", "1..2", "::ffff:10.0.0.0/104", "10.0.0.1,10.0.0.2,10.0.0.3")
	store := fixture()
	d := settings.FreshInstall()
	f.Fuzz(func(t *testing.T, cidr, gw, exclude, newCIDR, newGw string) {
		old := subnet("tenant-a", cidr, func(s *subnetT) { s.Spec.Gateway = gw; s.Spec.ExcludeIps = strings.Split(exclude, ",") })
		obj := subnet("tenant-a", newCIDR, func(s *subnetT) { s.Spec.Gateway = newGw; s.Spec.ExcludeIps = []string{exclude} })
		store.Read(func(r inventory.Reader) {
			for _, fs := range [][]policy.Finding{
				SubnetCreate(cx(r, d), nil, old).Findings,
				SubnetUpdate(cx(r, d), old, obj).Findings,
				SubnetDelete(cx(r, d), obj, nil).Findings,
			} {
				for _, x := range fs {
					if _, ok := policy.DefaultAction(x.Rule); !ok || x.Err == nil || x.Err.Field == "" {
						t.Fatalf("malformed finding %+v", x)
					}
				}
			}
		})
	})
}
