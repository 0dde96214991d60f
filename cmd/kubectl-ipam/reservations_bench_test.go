package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipamguard/ipamguard/pkg/reserve"
	"github.com/ipamguard/ipamguard/pkg/snapshot"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// BenchmarkReservationsSnapshot is `kubectl ipam reservations --snapshot
// FILE -o json` over a snapshot of a cluster of pods, as many IP objects
// and a reservation Lease per thousand pods: the command decodes only the
// Leases and checks the syntax of the rest. The fixture is written once
// per size under os.TempDir() (not timed). pods=1M (1.4 GB) runs only when
// -bench names it or IPAMGUARD_BENCH_1M is set.
func BenchmarkReservationsSnapshot(b *testing.B) {
	for _, pods := range []int{100_000, 1_000_000} {
		name := fmt.Sprintf("pods=%dk", pods/1000)
		if pods >= 1_000_000 {
			name = fmt.Sprintf("pods=%dM", pods/1_000_000)
		}
		b.Run(name, func(b *testing.B) {
			if pods >= 1_000_000 && os.Getenv("IPAMGUARD_BENCH_1M") == "" && !benchNamed(name) {
				b.Skip("set IPAMGUARD_BENCH_1M=1 or name the size in -bench to run it")
			}
			path, err := reservationsFixture(pods)
			if err != nil {
				b.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			// Once, checked: every reservation is listed.
			var out bytes.Buffer
			if code := run([]string{"reservations", "--snapshot", path, "-o", "json"}, nil, &out, io.Discard); code != exitOK {
				b.Fatalf("exit %d", code)
			}
			var l reservationList
			if err := json.Unmarshal(out.Bytes(), &l); err != nil {
				b.Fatal(err)
			}
			if want := (pods + 999) / 1000; len(l.Items) != want {
				b.Fatalf("%d reservations listed, want %d", len(l.Items), want)
			}
			b.SetBytes(fi.Size())
			b.ReportAllocs()
			for b.Loop() {
				if code := run([]string{"reservations", "--snapshot", path, "-o", "json"}, nil, io.Discard, io.Discard); code != exitOK {
					b.Fatalf("exit %d", code)
				}
			}
		})
	}
}

// benchNamed reports whether -bench names sub: the pattern the user
// wrote, not whether it matches.
func benchNamed(sub string) bool {
	f := flag.Lookup("test.bench")
	return f != nil && strings.Contains(f.Value.String(), sub)
}

// reservationsFixture returns the path of the snapshot of
// BenchmarkReservationsSnapshot with the given number of pods, writing it
// first if an earlier run did not leave it.
func reservationsFixture(pods int) (string, error) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("ipamguard-reservations-bench-v1-%d.json", pods))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp, err := os.CreateTemp(os.TempDir(), "ipamguard-reservations-bench-*.tmp")
	if err != nil {
		return "", err
	}
	defer func() {
		tmp.Close() // a second Close after the one below only errs
		os.Remove(tmp.Name())
	}()
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	w, err := snapshot.NewWriter(tmp, snapshot.Metadata{ClusterID: "7f6c3b1e-0000-4000-8000-000000000002", Time: now})
	if err != nil {
		return "", err
	}
	var buf []byte
	leases := &reserve.Leases{Namespace: "ipamguard-system"}
	for i := range pods {
		ns, subnet := fmt.Sprintf("ns-%d", i%1000), fmt.Sprintf("subnet-%d", i%10000)
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		// A pod and its IP object as Kube-OVN leaves them, about 1.5 kB.
		buf = fmt.Appendf(buf[:0], `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p-%d","namespace":%q,"uid":"%08x-0000-4000-8000-%012d","resourceVersion":"%d","creationTimestamp":"2026-12-01T00:00:00Z","labels":{"app":"a%d","pod-template-hash":"5d4f8b9c7"},"annotations":{"ovn.kubernetes.io/allocated":"true","ovn.kubernetes.io/cidr":"10.0.0.0/8","ovn.kubernetes.io/gateway":"10.0.0.1","ovn.kubernetes.io/ip_address":%q,"ovn.kubernetes.io/logical_router":"ovn-cluster","ovn.kubernetes.io/logical_switch":%q,"ovn.kubernetes.io/mac_address":"00:00:00:%02x:%02x:%02x","ovn.kubernetes.io/pod_nic_type":"veth-pair","ovn.kubernetes.io/routed":"true"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"a%d-5d4f8b9c7","uid":"%08x-0000-4000-8000-000000000000","controller":true,"blockOwnerDeletion":true}]},"spec":{"nodeName":"node-%d","containers":[{"name":"c","image":"registry.k8s.io/pause:3.10"}]},"status":{"phase":"Running","podIP":%q,"podIPs":[{"ip":%q}]}}`,
			i, ns, i, i, i+1, i%100, addr, subnet, byte(i>>16), byte(i>>8), byte(i), i%100, i%100, i%1000, addr, addr)
		if err := w.Add("v1", "Pod", buf); err != nil {
			return "", err
		}
		buf = fmt.Appendf(buf[:0], `{"apiVersion":"kubeovn.io/v1","kind":"IP","metadata":{"name":"p-%d.%s","uid":"%08x-0001-4000-8000-%012d","resourceVersion":"%d","labels":{"ovn.kubernetes.io/subnet":%q,"%s":""}},"spec":{"podName":"p-%d","namespace":%q,"subnet":%q,"nodeName":"node-%d","ipAddress":%q,"v4IpAddress":%q,"macAddress":"00:00:00:%02x:%02x:%02x","attachSubnets":[],"attachIps":[],"attachMacs":[]}}`,
			i, ns, i, i, i+1, subnet, subnet, i, ns, subnet, i%1000, addr, addr, byte(i>>16), byte(i>>8), byte(i))
		if err := w.Add("kubeovn.io/v1", "IP", buf); err != nil {
			return "", err
		}
		if i%1000 == 0 {
			le := leases.Lease(validate.Claim{Subnet: subnet, Addr: addr.Next()},
				reserve.Grant{Namespace: ns, Owner: fmt.Sprintf("q-%d", i), Pod: fmt.Sprintf("q-%d", i), PodUID: "u", RequestUID: "r"}, now)
			le.APIVersion, le.Kind = "coordination.k8s.io/v1", "Lease"
			b, err := json.Marshal(le)
			if err != nil {
				return "", err
			}
			if err := w.Add("coordination.k8s.io/v1", "Lease", b); err != nil {
				return "", err
			}
		}
	}
	if err := w.Close(nil); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}
