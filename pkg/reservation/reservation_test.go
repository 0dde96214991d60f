package reservation

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func lease(f Fields, acquired time.Time, renewed *time.Time, secs int32) *coordinationv1.Lease {
	labels, ann := Meta(f)
	at := metav1.NewMicroTime(acquired)
	le := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "ipr-x", Labels: labels, Annotations: ann},
		Spec: coordinationv1.LeaseSpec{AcquireTime: &at, LeaseDurationSeconds: &secs}}
	if renewed != nil {
		rt := metav1.NewMicroTime(*renewed)
		le.Spec.RenewTime = &rt
	}
	return le
}

func TestMetaReadRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for _, f := range []Fields{
		{Subnet: "ovn-default", Addr: netip.MustParseAddr("10.16.0.9"), Namespace: "apps", Owner: "web",
			Pod: "web-0", PodUID: "uid-1", RequestUID: "req-1", State: "admitted"},
		// IPv6, a VM owner, quotes and a backslash in a value, optional
		// fields empty.
		{Subnet: "v6", Addr: netip.MustParseAddr("fd00::a"), Namespace: "vms", Owner: `vm/"odd\name`},
	} {
		got, ok := Read(lease(f, at, nil, 60))
		if !ok {
			t.Fatalf("%+v: not read back", f)
		}
		want := f
		want.Acquired, want.Expires = at, at.Add(time.Minute)
		if got != want {
			t.Errorf("read back %+v, want %+v", got, want)
		}
	}
	// A renewal moves the expiry from the renew time.
	renewed := at.Add(30 * time.Second)
	f := Fields{Subnet: "s", Addr: netip.MustParseAddr("10.0.0.1"), Namespace: "n", Owner: "o"}
	got, ok := Read(lease(f, at, &renewed, 60))
	if !ok || !got.Acquired.Equal(at) || !got.Renewed.Equal(renewed) || !got.Expires.Equal(renewed.Add(time.Minute)) {
		t.Errorf("renewed lease read as %+v (ok %v)", got, ok)
	}
}

// One annotation, not one per field: what the API server tracks per
// admission.
func TestMetaIsOneLabelAndOneAnnotation(t *testing.T) {
	labels, ann := Meta(Fields{Subnet: "s", Addr: netip.MustParseAddr("10.0.0.1"), Namespace: "n", Owner: "o", Pod: "p", State: "admitted"})
	if len(labels) != 1 || labels[Label] != "true" || len(ann) != 1 {
		t.Fatalf("labels %v, annotations %v", labels, ann)
	}
	if want := `{"subnet":"s","address":"10.0.0.1","namespace":"n","owner":"o","pod":"p","state":"admitted"}`; ann[Annotation] != want {
		t.Errorf("annotation %s, want %s", ann[Annotation], want)
	}
}

func TestReadRefusesWhatIsNotAReservation(t *testing.T) {
	good := func() *coordinationv1.Lease {
		return lease(Fields{Subnet: "s", Addr: netip.MustParseAddr("10.0.0.1"), Namespace: "n", Owner: "o"}, time.Now(), nil, 60)
	}
	cases := map[string]func(le *coordinationv1.Lease){
		"no label":             func(le *coordinationv1.Lease) { le.Labels = nil },
		"label not true":       func(le *coordinationv1.Lease) { le.Labels[Label] = "false" },
		"no annotation":        func(le *coordinationv1.Lease) { le.Annotations = nil },
		"annotation not JSON":  func(le *coordinationv1.Lease) { le.Annotations[Annotation] = "10.0.0.1" },
		"annotation truncated": func(le *coordinationv1.Lease) { le.Annotations[Annotation] = le.Annotations[Annotation][:20] },
		"address missing": func(le *coordinationv1.Lease) {
			le.Annotations[Annotation] = `{"subnet":"s","namespace":"n","owner":"o"}`
		},
		"address invalid": func(le *coordinationv1.Lease) { le.Annotations[Annotation] = `{"subnet":"s","address":"10.0.0.300"}` },
		"address of wrong type": func(le *coordinationv1.Lease) {
			le.Annotations[Annotation] = `{"subnet":"s","address":167772161}`
		},
	}
	for name, spoil := range cases {
		le := good()
		spoil(le)
		if f, ok := Read(le); ok {
			t.Errorf("%s: read as a reservation: %+v", name, f)
		}
	}
	if _, ok := Read(good()); !ok {
		t.Fatal("the unspoilt lease is not read")
	}
}

func TestOf(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	f := Fields{Subnet: "s", Addr: netip.MustParseAddr("10.0.0.1"), Namespace: "n", Owner: "o"}
	got, readable, ok := Of(lease(f, at, nil, 60))
	if !ok || !readable || got.Addr != f.Addr || !got.Expires.Equal(at.Add(time.Minute)) {
		t.Errorf("a reservation: %+v readable %v ok %v", got, readable, ok)
	}
	// Another version's form: labelled, not readable here; its times.
	other := lease(f, at, nil, 60)
	other.Annotations = map[string]string{"ipamguard.io/v9": "?"}
	got, readable, ok = Of(other)
	if !ok || readable || got.Addr.IsValid() || !got.Acquired.Equal(at) || !got.Expires.Equal(at.Add(time.Minute)) {
		t.Errorf("another version's: %+v readable %v ok %v", got, readable, ok)
	}
	// Not labelled: not a reservation (the leader election Lease).
	plain := lease(f, at, nil, 60)
	plain.Labels = nil
	if _, _, ok := Of(plain); ok {
		t.Error("an unlabelled Lease is a reservation")
	}
}

func TestNameParseName(t *testing.T) {
	long := strings.Repeat("s", 250)
	for _, c := range []struct {
		subnet, addr, name string
	}{
		{"ovn-default", "10.16.0.9", "ipr-0a100009.ovn-default"},
		{"v6", "fd00::a", "ipr-fd00000000000000000000000000000a.v6"},
		// An IPv4-mapped IPv6 address is its IPv4 address.
		{"ovn-default", "::ffff:10.16.0.9", "ipr-0a100009.ovn-default"},
		// Subnet names are DNS subdomains: dots.
		{"tenant.a", "10.0.0.1", "ipr-0a000001.tenant.a"},
	} {
		a := netip.MustParseAddr(c.addr)
		if got := Name(c.subnet, a); got != c.name {
			t.Errorf("Name(%s, %s) = %s, want %s", c.subnet, a, got, c.name)
		}
		subnet, back, ok := ParseName(c.name)
		if !ok || subnet != c.subnet || back != a.Unmap() {
			t.Errorf("ParseName(%s) = %s, %s, %v", c.name, subnet, back, ok)
		}
	}
	// A subnet too long for the name: a digest in its place, read back as is.
	name := Name(long, netip.MustParseAddr("10.0.0.1"))
	if len(name) > 253 || !strings.HasPrefix(name, "ipr-0a000001.s-") {
		t.Fatalf("Name with a 250-character subnet: %s", name)
	}
	if subnet, a, ok := ParseName(name); !ok || subnet != strings.TrimPrefix(name, "ipr-0a000001.") || a != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("ParseName(%s) = %s, %s, %v", name, subnet, a, ok)
	}
	// The same for IPv6.
	name = Name(long, netip.MustParseAddr("fd00::1"))
	if subnet, a, ok := ParseName(name); len(name) > 253 || !ok || !strings.HasPrefix(subnet, "s-") || a != netip.MustParseAddr("fd00::1") {
		t.Errorf("ParseName(%s) = %s, %s, %v", name, subnet, a, ok)
	}
	for _, bad := range []string{"ipamguard-leader", "ipr-", "ipr-0a100009", "ipr-0a100009.", "ipr-0a1000.s", "ipr-zz100009.s", "ipr-0a10000900.s",
		// Name never writes an IPv4-mapped address in 16 bytes.
		"ipr-00000000000000000000ffff0a100009.s"} {
		if subnet, a, ok := ParseName(bad); ok {
			t.Errorf("ParseName(%q) = %s, %s; want not a reservation's name", bad, subnet, a)
		}
	}
}
