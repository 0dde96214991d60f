package ipam

import (
	"math"
	"net/netip"
	"testing"
)

func TestAllocatableCapacityReserved(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prefix   string
		from, to string
		capacity uint64
		reserved []string
		free     []string
	}{
		{"10.16.0.0/16", "10.16.0.1", "10.16.255.254", 65534, []string{"10.16.0.0", "10.16.255.255"}, []string{"10.16.0.1", "10.16.255.254"}},
		{"192.168.1.0/24", "192.168.1.1", "192.168.1.254", 254, []string{"192.168.1.0", "192.168.1.255"}, []string{"192.168.1.128"}},
		{"10.0.0.4/30", "10.0.0.5", "10.0.0.6", 2, []string{"10.0.0.4", "10.0.0.7"}, []string{"10.0.0.5"}},
		{"10.0.0.4/31", "10.0.0.4", "10.0.0.5", 2, nil, []string{"10.0.0.4", "10.0.0.5"}},
		{"10.0.0.4/32", "10.0.0.4", "10.0.0.4", 1, nil, []string{"10.0.0.4"}},
		{"0.0.0.0/0", "0.0.0.1", "255.255.255.254", 1<<32 - 2, []string{"0.0.0.0", "255.255.255.255"}, nil},
		{"0.0.0.0/31", "0.0.0.0", "0.0.0.1", 2, nil, []string{"0.0.0.0"}},
		{"255.255.255.254/31", "255.255.255.254", "255.255.255.255", 2, nil, []string{"255.255.255.255"}},
		{"fd00::/64", "fd00::1", "fd00::ffff:ffff:ffff:fffe", math.MaxUint64 - 1, []string{"fd00::", "fd00::ffff:ffff:ffff:ffff"}, nil},
		{"fd00::/63", "fd00::1", "fd00::1:ffff:ffff:ffff:fffe", math.MaxUint64, nil, nil},
		{"fd00::/65", "fd00::1", "fd00::7fff:ffff:ffff:fffe", 1<<63 - 2, nil, nil},
		{"fd00::/120", "fd00::1", "fd00::fe", 254, []string{"fd00::", "fd00::ff"}, nil},
		{"fd00::/127", "fd00::", "fd00::1", 2, nil, []string{"fd00::", "fd00::1"}},
		{"fd00::3/128", "fd00::3", "fd00::3", 1, nil, []string{"fd00::3"}},
		{"::/0", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", math.MaxUint64, []string{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, nil},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 2, nil, nil},
		{"10.16.0.5/16", "10.16.0.1", "10.16.255.254", 65534, []string{"10.16.0.0"}, nil}, // host bits are masked
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			t.Parallel()
			p := netip.MustParsePrefix(tt.prefix)
			r := Allocatable(p)
			if r.From().String() != tt.from || r.To().String() != tt.to {
				t.Errorf("Allocatable = %s, want %s-%s", r, tt.from, tt.to)
			}
			if got := Capacity(p); got != tt.capacity {
				t.Errorf("Capacity = %d, want %d", got, tt.capacity)
			}
			for _, a := range tt.reserved {
				if !IsReserved(p, netip.MustParseAddr(a)) {
					t.Errorf("IsReserved(%s) = false, want true", a)
				}
			}
			for _, a := range tt.free {
				if IsReserved(p, netip.MustParseAddr(a)) {
					t.Errorf("IsReserved(%s) = true, want false", a)
				}
			}
		})
	}
	if r := Allocatable(netip.Prefix{}); r.IsValid() {
		t.Errorf("Allocatable(zero) = %s", r)
	}
	if Capacity(netip.Prefix{}) != 0 || IsReserved(netip.Prefix{}, netip.Addr{}) {
		t.Error("zero prefix must have no capacity and no reserved address")
	}
}

func TestU128(t *testing.T) {
	t.Parallel()
	max := u128{math.MaxUint64, math.MaxUint64}
	if got := max.addSat(u128{lo: 1}); got != max {
		t.Errorf("saturating add = %v", got)
	}
	if got := (u128{lo: 1}).sub(u128{lo: 2}); got != (u128{}) {
		t.Errorf("flooring sub = %v", got)
	}
	if got := (u128{hi: 1}).sub(u128{lo: 1}); got != (u128{0, math.MaxUint64}) {
		t.Errorf("borrow = %v", got)
	}
	if got := allocatableSize(netip.MustParsePrefix("::/0")); got != (u128{math.MaxUint64, math.MaxUint64 - 1}) {
		t.Errorf("size of ::/0 = %v", got)
	}
}
