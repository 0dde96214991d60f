package clusterstate

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// kubeovnGroup is Kube-OVN's API group.
const kubeovnGroup = "kubeovn.io"

// DoctorInventory lists what the doctor (and `kubectl ipam snapshot`)
// reads of a cluster, in order: the Inventory's kinds, with Pods whole
// (node, host network, phase, IPs, why containers wait), then what tells
// kept IP objects from zombies (StatefulSets, KubeVirt VirtualMachines and
// VirtualMachineInstances), the warning events about pods, and the
// cluster's ServiceCIDRs and EIPs (iptables and OVN, as metadata: the
// controller counts those labelled with a subnet). KubeVirt, ServiceCIDRs
// and EIPs are Optional.
func DoctorInventory() []Resource {
	// The Inventory ends with its Pods (metadata only): the doctor reads
	// them whole, after what tells kept IP objects from zombies.
	base := Inventory()
	pods := base[len(base)-1]
	pods.MetadataOnly = false
	return append(base[:len(base)-1],
		Resource{Group: "networking.k8s.io", Version: "v1", Resource: "servicecidrs", Kind: "ServiceCIDR", Optional: true},
		// EIPs labelled with a subnet are in the controller's usingIPs;
		// clusters without NAT gateways or OVN EIPs do not serve them.
		Resource{Group: kubeovnGroup, Version: "v1", Resource: "iptables-eips", Kind: "IptablesEIP", MetadataOnly: true, Optional: true},
		Resource{Group: kubeovnGroup, Version: "v1", Resource: "ovn-eips", Kind: "OvnEip", MetadataOnly: true, Optional: true},
		Resource{Group: "apps", Version: "v1", Resource: "statefulsets", Kind: "StatefulSet", Namespaced: true},
		Resource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines", Kind: "VirtualMachine", Namespaced: true, MetadataOnly: true, Optional: true},
		Resource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachineinstances", Kind: "VirtualMachineInstance", Namespaced: true, MetadataOnly: true, Optional: true},
		pods,
		// Warnings about pods: the doctor classifies them (no address,
		// conflict, out of range, ...); the server filters, so a
		// cluster's other events are never sent.
		Resource{Version: "v1", Resource: "events", Kind: "Event", Namespaced: true, FieldSelector: "involvedObject.kind=Pod,type=Warning"},
	)
}

// ReservationLabel marks the Leases that reserve addresses for the
// webhook (reserve.LabelReservation).
const ReservationLabel = "ipamguard.io/reservation"

// ReservationLeases is the resource of the webhook's address reservations:
// the Leases labelled ReservationLabel in the webhook's namespace (one
// namespace: the webhook keeps them nowhere else, and reading Leases
// cluster-wide would need more than the doctor's readers have). A
// namespace that does not exist lists nothing.
func ReservationLeases(namespace string) Resource {
	return Resource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases", Kind: "Lease",
		Namespaced: true, Namespace: namespace, LabelSelector: ReservationLabel + "=true"}
}

// Progress is told, while a resource is listed, how many of its objects
// were read so far (done false, every progressEvery objects) and, once,
// how many in all (done true).
type Progress func(res Resource, n int, done bool)

// progressEvery is how often (in objects) Stream reports progress.
const progressEvery = 1000

// Stream lists every resource in order and calls visit with each object
// as its page arrives: nothing but the current page is held. A resource
// that cannot be read does not stop the others; it is returned as a
// Failure: forbidden, timed out, not served (unless Optional: then it is
// skipped), or any other error status. Objects of a resource that failed
// part way were visited. Stream returns an error, and stops, when visit
// fails or the server cannot be reached at all (a *ReadError naming the
// resource).
//
// A continue token that expires between pages restarts the list in one
// piece, as List does, skipping the objects already visited: lists are
// in key order (namespace/name), as the continue tokens themselves rely
// on, so those are the ones up to the last key visited.
func (r *Reader) Stream(ctx context.Context, resources []Resource, visit func(Object) error, progress Progress) ([]Failure, error) {
	var failures []Failure
	for _, res := range resources {
		n, last := 0, ""
		var visitErr error
		counted := func(o Object) error {
			if err := visit(o); err != nil {
				visitErr = err
				return err
			}
			n++
			last = qualifiedKey(o)
			if progress != nil && n%progressEvery == 0 {
				progress(res, n, false)
			}
			return nil
		}
		err := r.list(ctx, res, r.chunkSize, counted)
		if apierrors.IsResourceExpired(err) && visitErr == nil {
			seen := last
			err = r.list(ctx, res, 0, func(o Object) error {
				if seen != "" && qualifiedKey(o) <= seen {
					return nil
				}
				return counted(o)
			})
		}
		if progress != nil {
			progress(res, n, true)
		}
		switch {
		case visitErr != nil:
			return failures, visitErr
		case err == nil:
		case res.Optional && (Failure{Resource: res, Err: err}).NotServed():
		case answered(err) || timedOut(err):
			failures = append(failures, Failure{Resource: res, Err: err})
		default:
			return failures, &ReadError{Server: r.server, Failures: []Failure{{Resource: res, Err: err}}}
		}
	}
	return failures, nil
}

// qualifiedKey is the key lists are ordered by.
func qualifiedKey(o Object) string {
	if o.Namespace == "" {
		return o.Name
	}
	return o.Namespace + "/" + o.Name
}

// timedOut reports whether a request failed by running out of time
// (--request-timeout, a deadline) rather than by reaching no server.
func timedOut(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Reason says why a resource could not be read, in one line: what the
// doctor reports of the gap it leaves.
func (f Failure) Reason() string {
	switch {
	case f.NotServed():
		return "not served by the API server"
	case apierrors.IsForbidden(f.Err):
		return "forbidden: " + f.Err.Error()
	case timedOut(f.Err):
		return "timed out: " + f.Err.Error()
	}
	return strings.TrimSpace(f.Err.Error())
}

// ClusterID is the UID of the kube-system namespace, which names a
// cluster for as long as it exists; "" when it cannot be read.
func (r *Reader) ClusterID(ctx context.Context) (string, error) {
	ns := Resource{Version: "v1", Resource: "namespaces", Kind: "Namespace", MetadataOnly: true}
	o, found, err := r.Get(ctx, ns, "", "kube-system")
	if err != nil || !found {
		return "", err
	}
	var m struct {
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(o.Raw, &m); err != nil {
		return "", err
	}
	return m.Metadata.UID, nil
}
