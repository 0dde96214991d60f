package devenv

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// Names and ranges of the fresh-install shape Seed creates. They are the
// defaults of the Kube-OVN controller flags.
const (
	DefaultVpc        = "ovn-cluster"
	DefaultSubnet     = "ovn-default"
	DefaultSubnetCIDR = "10.16.0.0/16"
	JoinSubnet        = "join"
	JoinSubnetCIDR    = "100.64.0.0/16"
)

// seedRetryFor bounds how long Seed retries transient API errors, such as a
// webhook that is registered but momentarily unreachable.
const seedRetryFor = 15 * time.Second

// SeedObjects returns the objects of a fresh Kube-OVN install: the default
// VPC, the default subnet and the join subnet, in creation order.
func SeedObjects() []client.Object {
	return []client.Object{
		&kubeovnv1.Vpc{ObjectMeta: metav1.ObjectMeta{Name: DefaultVpc}},
		&kubeovnv1.Subnet{
			ObjectMeta: metav1.ObjectMeta{Name: DefaultSubnet},
			Spec: kubeovnv1.SubnetSpec{
				CIDRBlock: DefaultSubnetCIDR,
				Gateway:   "10.16.0.1",
				Vpc:       DefaultVpc,
				Default:   true,
				Provider:  "ovn",
				Protocol:  kubeovnv1.ProtocolIPv4,
			},
		},
		&kubeovnv1.Subnet{
			ObjectMeta: metav1.ObjectMeta{Name: JoinSubnet},
			Spec: kubeovnv1.SubnetSpec{
				CIDRBlock: JoinSubnetCIDR,
				Gateway:   "100.64.0.1",
				Vpc:       DefaultVpc,
				Provider:  "ovn",
				Protocol:  kubeovnv1.ProtocolIPv4,
			},
		},
	}
}

// Seed creates SeedObjects through the API, so they pass through the webhook
// when it is registered. Objects that already exist are left as they are.
func Seed(ctx context.Context, c client.Client) error {
	for _, obj := range SeedObjects() {
		if err := createWithRetry(ctx, c, obj); err != nil {
			return fmt.Errorf("seed %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return nil
}

// createWithRetry creates obj, treating AlreadyExists as success and retrying
// errors that say the server (or a webhook behind it) is not ready yet.
func createWithRetry(ctx context.Context, c client.Client, obj client.Object) error {
	deadline := time.Now().Add(seedRetryFor)
	for {
		err := c.Create(ctx, obj.DeepCopyObject().(client.Object))
		switch {
		case err == nil, apierrors.IsAlreadyExists(err):
			return nil
		case !transient(err) || time.Now().After(deadline):
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// transient reports errors worth retrying while the control plane settles.
// "failed calling webhook" arrives as an InternalError.
func transient(err error) bool {
	return apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) ||
		apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err)
}
