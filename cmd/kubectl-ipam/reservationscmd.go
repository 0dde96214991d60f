package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/ipamguard/ipamguard/pkg/clusterstate"
	"github.com/ipamguard/ipamguard/pkg/diagnose"
	"github.com/ipamguard/ipamguard/pkg/reservation"
)

const reservationsHelp = `List the address reservations of the ipamguard webhook: one Lease per
fixed address a replica admitted, in the webhook's namespace, that holds
the address against other pods until its TTL passes (docs/operations.md,
"Replicas and in-flight reservations"). Read from the live cluster, or
from --snapshot FILE (the output of "kubectl ipam snapshot").

Columns: the subnet and the address; the holder (namespace/owner: the
pod, its StatefulSet ordinal or its VM) and its pod; the state; when the
reservation was taken (AGE) and when it lapses (EXPIRES). A lapsed one
holds nothing any more: the next request for its address takes it over,
and the leader's sweep deletes it; one lapsed for more than a minute
means the sweep is not running ("kubectl ipam doctor" reports it). LEASE
is the Lease's name, for "kubectl get lease". A Lease written by another
version of the webhook, in a form this one cannot read, shows the subnet
and address of its name (a subnet name too long for it as a digest,
s-...), its own times (the webhook holds it at most its
--reservation-ttl after them), and HOLDER "(another version)".

The reservations are in the webhook's namespace (--webhook-namespace, or
-n); with --snapshot, in the namespace the snapshot read them from, unless
one is given. ADDRESS arguments (and --subnet) keep only the reservations
of those addresses (and that subnet).

Exit status: 0 listed (none is not an error), 2 usage or input error, or
the reservations could not be read (also: not read into the snapshot).

Usage:
  kubectl ipam reservations [ADDRESS...] [--subnet NAME] [flags]

Flags:
`

// reservationRow is one reservation as listed (and as -o json writes it).
type reservationRow struct {
	// Lease and LeaseNamespace name the Lease.
	Lease          string `json:"lease"`
	LeaseNamespace string `json:"leaseNamespace"`
	Subnet         string `json:"subnet,omitempty"`
	Address        string `json:"address,omitempty"`
	// HolderNamespace and Owner are the holder (Owner: the pod, its
	// StatefulSet ordinal or its VM), Pod its pod.
	HolderNamespace string     `json:"holderNamespace,omitempty"`
	Owner           string     `json:"owner,omitempty"`
	Pod             string     `json:"pod,omitempty"`
	PodUID          string     `json:"podUID,omitempty"`
	RequestUID      string     `json:"requestUID,omitempty"`
	State           string     `json:"state,omitempty"`
	Acquired        *time.Time `json:"acquired,omitempty"`
	Renewed         *time.Time `json:"renewed,omitempty"`
	Expires         *time.Time `json:"expires,omitempty"`
	// Lapsed: past Expires at the time of the listing.
	Lapsed bool `json:"lapsed"`
	// Unreadable: another version's form; only the name and the times
	// are known.
	Unreadable bool `json:"unreadable,omitempty"`

	addr netip.Addr
}

// reservationList is what -o json writes.
type reservationList struct {
	// Time is when the reservations were read (the snapshot's time for
	// --snapshot), against which Lapsed is judged.
	Time  time.Time        `json:"time"`
	Items []reservationRow `json:"items"`
}

// newReservationRow is the row of the reservation Lease namespace/name
// that says f (readable) or, in another version's form, only f's times.
func newReservationRow(namespace, name string, f reservation.Fields, readable bool, now time.Time) reservationRow {
	r := reservationRow{Lease: name, LeaseNamespace: namespace, Unreadable: !readable}
	if readable {
		r.Subnet, r.addr = f.Subnet, f.Addr.Unmap()
		r.HolderNamespace, r.Owner, r.Pod, r.PodUID, r.RequestUID, r.State = f.Namespace, f.Owner, f.Pod, f.PodUID, f.RequestUID, f.State
	} else if subnet, a, ok := reservation.ParseName(name); ok {
		r.Subnet, r.addr = subnet, a
	}
	if r.addr.IsValid() {
		r.Address = r.addr.String()
	}
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		t = t.UTC()
		return &t
	}
	r.Acquired, r.Renewed, r.Expires = at(f.Acquired), at(f.Renewed), at(f.Expires)
	r.Lapsed = !now.Before(f.Expires)
	return r
}

func runReservations(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	own := pflag.NewFlagSet("reservations", pflag.ContinueOnError)
	var output, subnet, webhookNS string
	own.StringVarP(&output, "output", "o", "text", "output format: text or json")
	own.StringVar(&subnet, "subnet", "", "only the reservations in the subnet `NAME`")
	bindWebhookNamespace(own, &webhookNS)
	own.Lookup("webhook-namespace").Usage = "the `NAMESPACE` of the ipamguard webhook, where its reservations (Leases) are (-n says the same)"
	cf := newClusterFlags()
	cf.stateSet.Lookup("snapshot").Usage = "list the reservations in `FILE` (the output of \"kubectl ipam snapshot\"; a file, directory or -) instead of the live cluster's; repeatable"
	cf.stateSet.Lookup("offline").Usage = "never contact an API server (needs --snapshot)"
	cf.kubeSet.Lookup("namespace").Usage = "the webhook's namespace, as --webhook-namespace"
	fs, code, done := parseFlags("reservations", reservationsHelp, own, cf, args, stderr)
	if done {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "kubectl ipam reservations: error: "+format+"\n", a...)
		return exitUsage
	}
	if output != "text" && output != "json" {
		return fail("--output %q: must be text or json", output)
	}
	nsGiven := fs.Changed("webhook-namespace") || fs.Changed("namespace")
	if fs.Changed("namespace") {
		if fs.Changed("webhook-namespace") && *cf.kube.Namespace != webhookNS {
			return fail("-n %q and --webhook-namespace %q: give one", *cf.kube.Namespace, webhookNS)
		}
		webhookNS = *cf.kube.Namespace
	}
	var want []netip.Addr
	for _, arg := range fs.Args() {
		a, err := netip.ParseAddr(strings.TrimSpace(arg))
		if err != nil {
			return fail("address %q: %v", arg, err)
		}
		want = append(want, a.Unmap())
	}
	for i, a := range want {
		if a.Zone() != "" {
			return fail("address %q: a zone is not part of an address Kube-OVN allocates", fs.Arg(i))
		}
	}
	if webhookNS == "" && len(cf.snapshot) == 0 {
		return fail("--webhook-namespace is empty: the reservations are in the webhook's namespace")
	}
	if cf.offline && len(cf.snapshot) == 0 {
		return fail("--offline needs --snapshot FILE")
	}
	src, err := cf.source()
	if errors.Is(err, errNoCluster) {
		return fail("no cluster to read: no --snapshot, and no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config or in-cluster)")
	}
	if err != nil {
		return fail("%v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var (
		rows []reservationRow
		now  time.Time
		from string
	)
	if src == fromSnapshot {
		state := &diagnose.State{}
		if err := readSnapshots(cf.snapshot, stdin, state, "Lease"); err != nil {
			return fail("--snapshot %v", err)
		}
		leases := clusterstate.ReservationLeases("").String()
		for _, g := range state.Incomplete {
			if g.Resource == leases {
				return fail("--snapshot %s: the reservations were not read into it (%s: %s)", strings.Join(cf.snapshot, ", "), g.Resource, g.Reason)
			}
		}
		now = state.Time
		if now.IsZero() {
			now = time.Now().UTC()
		}
		// A snapshot holds the namespace it was taken with: filtered only
		// when asked.
		if !nsGiven {
			webhookNS = ""
		}
		for i := range state.Reservations {
			r := &state.Reservations[i]
			if webhookNS != "" && r.Meta.Namespace != webhookNS || r.DeletionTimestamp != nil {
				continue
			}
			rows = append(rows, newReservationRow(r.Meta.Namespace, r.Meta.Name, r.Fields, !r.Unreadable, now))
		}
		from = "the snapshot"
		if webhookNS != "" {
			from = "namespace " + webhookNS + " of the snapshot"
		}
	} else {
		l, err := cf.connect()
		if err != nil {
			return fail("%v", err)
		}
		now = time.Now().UTC()
		objs, err := l.reader.Read(ctx, reservationResources(webhookNS))
		if err != nil {
			return fail("%v", err)
		}
		for _, o := range objs {
			var le coordinationv1.Lease
			if err := json.Unmarshal(o.Raw, &le); err != nil {
				return fail("Lease %s/%s: %v", o.Namespace, o.Name, err)
			}
			if f, readable, ok := reservation.Of(&le); ok && le.DeletionTimestamp == nil {
				rows = append(rows, newReservationRow(le.Namespace, le.Name, f, readable, now))
			}
		}
		from = fmt.Sprintf("namespace %s of the cluster at %s%s", webhookNS, l.reader.Server(), contextNote(l.context))
	}
	rows = slices.DeleteFunc(rows, func(r reservationRow) bool {
		// Another version's Lease of a subnet too long for its name says
		// only a digest of it: its name is compared.
		inSubnet := r.Subnet == subnet || r.Unreadable && r.addr.IsValid() && reservation.Name(subnet, r.addr) == r.Lease
		return subnet != "" && !inSubnet || len(want) > 0 && !slices.Contains(want, r.addr)
	})
	slices.SortFunc(rows, func(a, b reservationRow) int {
		return cmp.Or(cmp.Compare(a.LeaseNamespace, b.LeaseNamespace), cmp.Compare(a.Subnet, b.Subnet), a.addr.Compare(b.addr), cmp.Compare(a.Lease, b.Lease))
	})

	if output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if rows == nil {
			rows = []reservationRow{}
		}
		if err := enc.Encode(reservationList{Time: now, Items: rows}); err != nil {
			return fail("write: %v", err)
		}
		return exitOK
	}
	if len(rows) == 0 {
		fmt.Fprintf(stderr, "No reservations found in %s.\n", from)
		return exitOK
	}
	w := printers.GetNewTabWriter(stdout)
	fmt.Fprintln(w, "SUBNET\tADDRESS\tHOLDER\tPOD\tSTATE\tAGE\tEXPIRES\tLEASE")
	for _, r := range rows {
		holder, pod, state := "", r.Pod, r.State
		if r.HolderNamespace != "" || r.Owner != "" {
			holder = r.HolderNamespace + "/" + r.Owner
		}
		if r.Unreadable {
			holder, pod, state = "(another version)", "", ""
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(r.Subnet), dash(r.Address), dash(holder), dash(pod), dash(state),
			since(r.Acquired, now), expires(r.Expires, now), r.Lease)
	}
	if err := w.Flush(); err != nil {
		return fail("write: %v", err)
	}
	return exitOK
}

// dash is s, or "-" for nothing.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// since is how long before now t was, as kubectl's AGE column says it.
func since(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	return duration.HumanDuration(now.Sub(*t))
}

// expires says when t comes, from now: "in 42s", or "lapsed 3m ago".
func expires(t *time.Time, now time.Time) string {
	switch {
	case t == nil:
		return "lapsed"
	case now.Before(*t):
		return "in " + duration.HumanDuration(t.Sub(now))
	default:
		return "lapsed " + duration.HumanDuration(now.Sub(*t)) + " ago"
	}
}
