package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/plant"
	"github.com/ipamguard/ipamguard/internal/simovn"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// webhookSwitchTimeout bounds the wait for the API server to stop (or
// start again) calling the webhooks after their configurations changed.
const webhookSwitchTimeout = 30 * time.Second

// plantProblems plants every problem `kubectl ipam doctor` diagnoses
// (internal/devenv/plant). The webhook would refuse some of them, so its
// configurations are taken out of the API server while planting and put
// back afterwards, as an administrator bypasses a webhook; the webhook
// process runs on and learns the planted state through its watches. With
// simulate, the planted pods' IP objects carry the simulator's label, so
// it releases them when a fix deletes their pod.
func plantProblems(ctx context.Context, c client.Client, simulate bool) (planted plant.Planted, err error) {
	var mut admissionregistrationv1.MutatingWebhookConfigurationList
	var val admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := c.List(ctx, &mut); err != nil {
		return planted, fmt.Errorf("list the webhook configurations: %w", err)
	}
	if err := c.List(ctx, &val); err != nil {
		return planted, fmt.Errorf("list the webhook configurations: %w", err)
	}
	var saved []client.Object
	for i := range mut.Items {
		saved = append(saved, &mut.Items[i])
	}
	for i := range val.Items {
		saved = append(saved, &val.Items[i])
	}
	for _, o := range saved {
		if err := c.Delete(ctx, o); client.IgnoreNotFound(err) != nil {
			return planted, fmt.Errorf("take out webhook configuration %s: %w", o.GetName(), err)
		}
	}
	defer func() {
		for _, o := range saved {
			o.SetResourceVersion("")
			o.SetUID("")
			o.SetCreationTimestamp(metav1.Time{})
			o.SetManagedFields(nil)
			if cerr := c.Create(ctx, o); cerr != nil {
				err = errors.Join(err, fmt.Errorf("put back webhook configuration %s: %w", o.GetName(), cerr))
			}
		}
		if err == nil && len(saved) > 0 {
			err = waitWebhook(ctx, c, true)
		}
	}()
	if len(saved) > 0 {
		if err := waitWebhook(ctx, c, false); err != nil {
			return planted, err
		}
	}
	o := plant.Options{}
	if simulate {
		o.IPLabels = map[string]string{simovn.ManagedByLabel: simovn.ManagedByValue}
	}
	return plant.Plant(ctx, c, o)
}

// waitWebhook waits until the API server calls the subnet webhook (on) or
// no longer does: a subnet overlapping the default one, created as a dry
// run, is refused only while it is called.
func waitWebhook(ctx context.Context, c client.Client, on bool) error {
	deadline := time.Now().Add(webhookSwitchTimeout)
	for {
		probe := &kubeovnv1.Subnet{
			ObjectMeta: metav1.ObjectMeta{Name: "ipamguard-dev-webhook-probe"},
			Spec:       kubeovnv1.SubnetSpec{CIDRBlock: "10.16.254.0/24", Protocol: kubeovnv1.ProtocolIPv4, Provider: "ovn"},
		}
		err := c.Create(ctx, probe, client.DryRunAll)
		refused := err != nil && strings.Contains(err.Error(), "denied the request")
		if refused == on {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the API server did not switch the webhook on=%v within %s (last answer: %v)", on, webhookSwitchTimeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// printPlanted tells the user what was planted and how to see the doctor
// find it.
func printPlanted(w io.Writer, kubeconfig string, p plant.Planted) {
	fmt.Fprintf(w, `
Planted the doctor's problems (--plant-problems) in namespace %s, on node %s and in
subnets %s (and the join subnet).
The doctor leaves objects younger than a minute alone (a pod half made or half gone), so
wait a minute, then:
  bin/kubectl-ipam doctor --kubeconfig %s
It reports exactly these findings (exit status 3: critical ones), each fixable one with
the kubectl command that fixes it:
`, plant.Namespace, plant.Node, strings.Join(p.Subnets, ", "), kubeconfig)
	for _, e := range p.Expect() {
		fix := ""
		if e.Fix {
			fix = "  (fix printed)"
		}
		fmt.Fprintf(w, "  %-8s %s%s\n", e.Severity, e.ID, fix)
	}
	fmt.Fprintf(w, `Run the printed fixes and the doctor again: the fixed findings are gone. Without a
real kube-ovn-controller nobody recounts subnet statuses, so the subnets whose IP objects
the fixes deleted then show a stale status, with its own fix.
Default subnet and join: %s, %s.
`, devenv.DefaultSubnet, devenv.JoinSubnet)
}
