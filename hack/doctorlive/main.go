// Command doctorlive compares `kubectl ipam doctor` with the Kube-OVN IP
// troubleshooting runbook's own commands on the same live data (issue 14,
// part 4): it starts a local control plane (internal/devenv), seeds it with
// a test/bench fixture size (subnets, IP objects, one pod per IP object,
// the pending pods, nodes) plus a few planted problems (zombie IP objects,
// duplicate addresses, stale subnet counters, a subnet with another's
// CIDR), then times, each -runs times, the doctor (the built plugin, live,
// -o json) and the runbook's four commands (the pinned kubectl and jq), and
// prints the medians and what each found.
//
//	go run ./hack/doctorlive [-size 10k-100k] [-runs 3] [-suspects 10]
//
// Not part of `make test`: seeding 10k subnets and 200k objects takes
// minutes. The figures go in docs/performance.md ("Doctor, live").
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/audit"
	"github.com/ipamguard/ipamguard/pkg/clusterstate"
	"github.com/ipamguard/ipamguard/pkg/diagnose"
	"github.com/ipamguard/ipamguard/test/bench/fixture"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "doctorlive:", err)
		os.Exit(1)
	}
}

func run() error {
	sizeName := flag.String("size", fixture.Size10k100k.Name, "fixture size (test/bench/fixture)")
	runs := flag.Int("runs", 3, "timed runs of each command (the median is printed)")
	suspects := flag.Int("suspects", 10, "addresses the runbook's duplicate query is run for, one query each")
	workers := flag.Int("workers", 16, "parallel creates while seeding")
	flag.Parse()
	sz, ok := fixture.SizeByName(*sizeName)
	if !ok {
		return fmt.Errorf("-size %q: unknown", *sizeName)
	}
	root, err := devenv.RepoRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "doctorlive-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	plugin := filepath.Join(dir, "kubectl-ipam")
	build := exec.Command("go", "build", "-o", plugin, "./cmd/kubectl-ipam")
	build.Dir, build.Stderr = root, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build the plugin: %w", err)
	}
	assets, err := devenv.DefaultAssetsDir()
	if err != nil {
		return err
	}
	kubectl := filepath.Join(assets, devenv.KubectlBinary)

	ctx := context.Background()
	env, err := devenv.Start(ctx, devenv.Options{})
	if err != nil {
		return err
	}
	defer env.Stop()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		return err
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 1e6, 1e6
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		return err
	}

	f := fixture.Generate(sz)
	start := time.Now()
	planted, n, err := seed(ctx, c, cfg, f, *workers)
	if err != nil {
		return err
	}
	fmt.Printf("seeded %d objects (%s: %d subnets, %d IP objects, %d pods, %d nodes) in %s\n",
		n, sz.Name, len(f.Subnets), len(f.IPs), len(f.IPs)+len(f.Pods), len(f.Nodes), time.Since(start).Round(time.Second))
	// The doctor leaves IP objects younger than a minute alone (their pod
	// may be in creation): wait until the planted ones are older.
	if wait := time.Until(start.Add(70 * time.Second)); wait > 0 {
		time.Sleep(wait)
	}
	fmt.Printf("planted: %d zombie IP objects, %d duplicate addresses, %d stale subnet statuses, 1 subnet with another's CIDR\n",
		len(planted.zombies), len(planted.duplicates), len(planted.stale))

	env2 := append(os.Environ(), "KUBECONFIG="+kubeconfig)
	sh := func(script string) (string, time.Duration, error) {
		cmd := exec.Command("bash", "-o", "pipefail", "-c", script)
		cmd.Env = append(env2, "KUBECTL="+kubectl, "PLUGIN="+plugin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		t0 := time.Now()
		err := cmd.Run()
		d := time.Since(t0)
		if err != nil {
			if ee, ok := err.(*exec.ExitError); !ok || script != doctorScript || ee.ExitCode() > 4 {
				return out.String(), d, fmt.Errorf("%s: %w\n%s", script, err, errb.String())
			}
		}
		return out.String(), d, nil
	}
	timed := func(script string) (string, time.Duration, error) {
		var ds []time.Duration
		var out string
		for range *runs {
			o, d, err := sh(script)
			if err != nil {
				return "", 0, err
			}
			out = o
			ds = append(ds, d)
		}
		slices.Sort(ds)
		return out, ds[len(ds)/2], nil
	}

	out, doctorTime, err := timed(doctorScript)
	if err != nil {
		return err
	}
	var rep diagnose.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		return fmt.Errorf("doctor output: %w", err)
	}
	byCheck := map[string]int{}
	for _, fd := range rep.Findings {
		byCheck[fd.Check]++
	}

	type row struct {
		what  string
		d     time.Duration
		found string
	}
	var rows []row
	out, d, err := timed(`"$KUBECTL" get subnet -o custom-columns=NAME:.metadata.name,AVAILABLE:.status.availableIPs,USING:.status.usingIPs,TOTAL:.status.totalIPs`)
	if err != nil {
		return err
	}
	rows = append(rows, row{"subnet usage (custom-columns)", d, fmt.Sprintf("%d lines of stored counters (v1.16 has no availableIPs/usingIPs/totalIPs fields: the columns print <none>)", strings.Count(out, "\n")-1)})
	out, d, err = timed(`"$KUBECTL" get ip -A -o json | jq '.items[] | select(.spec.podName == null) | .metadata.name'`)
	if err != nil {
		return err
	}
	rows = append(rows, row{"zombies (jq podName == null)", d, fmt.Sprintf("%d zombies", nonEmptyLines(out))})
	var perQuery []time.Duration
	found := 0
	for i, a := range planted.duplicates {
		if i >= *suspects {
			break
		}
		o, d, err := sh(`"$KUBECTL" get ip -A -o jsonpath='{range .items[?(@.spec.ipAddress=="` + a + `")]}{.metadata.name}{"\n"}{end}'`)
		if err != nil {
			return err
		}
		perQuery = append(perQuery, d)
		if nonEmptyLines(o) > 1 {
			found++
		}
	}
	slices.Sort(perQuery)
	var q time.Duration
	if len(perQuery) > 0 {
		q = perQuery[len(perQuery)/2]
	}
	rows = append(rows, row{fmt.Sprintf("duplicates (jsonpath, once per suspect address; %d suspects)", len(perQuery)), q * time.Duration(len(perQuery)),
		fmt.Sprintf("%d of %d planted duplicates, only among the suspects given; every address of %d IP objects would take %d queries, about %s",
			found, len(planted.duplicates), len(f.IPs), len(f.IPs), (q * time.Duration(len(f.IPs))).Round(time.Minute))})
	out, d, err = timed(`"$KUBECTL" get subnet -o jsonpath='{range .items[*]}{.metadata.name}{"\t"}{.spec.cidrBlock}{"\n"}{end}' | sort -k2 | uniq -D -f1`)
	if err != nil {
		return err
	}
	rows = append(rows, row{"same CIDR twice (sort | uniq -D)", d, fmt.Sprintf("%d lines (identical strings only; nested overlaps are missed)", nonEmptyLines(out))})

	var total time.Duration
	fmt.Printf("\n| command | median of %d | found |\n|---|---:|---|\n", *runs)
	for _, r := range rows {
		total += r.d
		fmt.Printf("| %s | %s | %s |\n", r.what, r.d.Round(time.Millisecond), r.found)
	}
	fmt.Printf("| **runbook, the four steps** | **%s** | |\n", total.Round(time.Millisecond))
	fmt.Printf("| **kubectl ipam doctor -o json** (live, everything) | **%s** | %d findings: %v; %d subnet rows |\n",
		doctorTime.Round(time.Millisecond), len(rep.Findings), byCheck, len(rep.Subnets))
	fmt.Printf("\nspeed-up: %.1fx (runbook / doctor)\n", float64(total)/float64(doctorTime))
	return nil
}

const doctorScript = `"$PLUGIN" doctor -o json -q`

func nonEmptyLines(s string) int {
	n := 0
	for l := range strings.Lines(s) {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return n
}

// planted are the problems seeded beside the fixture.
type planted struct {
	zombies, duplicates, stale []string
}

// seed creates the fixture's objects (namespaces, VPCs, subnets, nodes, IP
// objects, one running pod per IP object, the pending pods) and the
// planted problems, with workers parallel creates.
func seed(ctx context.Context, c client.Client, cfg *rest.Config, f *fixture.Fixture, workers int) (planted, int, error) {
	var p planted
	var objs [][]client.Object // created in waves: later waves need earlier ones
	var wave []client.Object
	for _, ns := range f.Namespaces {
		wave = append(wave, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.Name, Labels: ns.Labels, Annotations: ns.Annotations}})
	}
	for _, v := range f.VPCs {
		wave = append(wave, clean(v.DeepCopy()))
	}
	for _, s := range f.Subnets {
		wave = append(wave, clean(s.DeepCopy()))
	}
	for _, n := range f.Nodes {
		wave = append(wave, clean(n.DeepCopy()))
	}
	objs = append(objs, wave)
	wave = nil
	for i, ip := range f.IPs {
		o := clean(ip.DeepCopy())
		wave = append(wave, o)
		if i%10000 == 7 {
			// A zombie: the pod is not created.
			p.zombies = append(p.zombies, o.Name)
			continue
		}
		wave = append(wave, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: o.Spec.PodName, Namespace: o.Spec.Namespace,
				Annotations: map[string]string{"ovn.kubernetes.io/logical_switch": o.Spec.Subnet, "ovn.kubernetes.io/ip_address": o.Spec.IPAddress, "ovn.kubernetes.io/allocated": "true"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
		})
	}
	// Duplicates: a second IP object (with its pod) on an address held.
	for i := 0; i < 10 && i*9973 < len(f.IPs); i++ {
		ip := f.IPs[i*9973+1]
		name := "dup-" + strconv.Itoa(i)
		wave = append(wave, &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: name + "." + ip.Spec.Namespace}, Spec: kubeovnv1.IPSpec{
			PodName: name, Namespace: ip.Spec.Namespace, Subnet: ip.Spec.Subnet, IPAddress: ip.Spec.IPAddress, V4IPAddress: ip.Spec.V4IPAddress, V6IPAddress: ip.Spec.V6IPAddress}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ip.Spec.Namespace},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}}})
		p.duplicates = append(p.duplicates, ip.Spec.IPAddress)
	}
	for _, pm := range f.Pods {
		wave = append(wave, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: pm.Name, Namespace: pm.Namespace, Annotations: pm.Annotations},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}}})
	}
	// A subnet with another's CIDR string.
	twin := clean(f.Subnets[len(f.Subnets)-1].DeepCopy())
	twin.Name += "-twin"
	wave = append(wave, twin)
	objs = append(objs, wave)

	var created atomic.Int64
	for _, w := range objs {
		if err := createAll(ctx, c, w, workers, &created); err != nil {
			return p, int(created.Load()), err
		}
	}
	// The controller's counters, as kube-ovn-controller would have written
	// them: what the doctor's own status fixes write.
	if err := reconcileStatus(ctx, c, cfg, workers); err != nil {
		return p, int(created.Load()), err
	}
	// Stale counters: a status that says nothing is in use.
	for i := 0; i < 5 && i < len(f.Layout); i++ {
		s := &kubeovnv1.Subnet{}
		if err := c.Get(ctx, client.ObjectKey{Name: f.Layout[i*97%len(f.Layout)].Name}, s); err != nil {
			return p, int(created.Load()), err
		}
		s.Status.V4UsingIPs, s.Status.V4AvailableIPs = 0, 0
		if err := c.Status().Update(ctx, s); err != nil {
			return p, int(created.Load()), fmt.Errorf("status of %s: %w", s.Name, err)
		}
		p.stale = append(p.stale, s.Name)
	}
	return p, int(created.Load()), nil
}

// reconcileStatus writes every subnet's status counters as Kube-OVN's
// controller computes them (the patches of the doctor's subnet-status
// fixes), as a cluster with a running controller has them.
func reconcileStatus(ctx context.Context, c client.Client, cfg *rest.Config, workers int) error {
	r, err := clusterstate.NewReader(cfg, 0)
	if err != nil {
		return err
	}
	s := &diagnose.State{Time: time.Now().UTC()}
	if err := audit.Read(ctx, r, s, nil); err != nil {
		return err
	}
	rep := diagnose.Run(s, diagnose.DefaultOptions(s.Time))
	ch := make(chan diagnose.Finding)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for fd := range ch {
				cmd := fd.Fix[0]
				i := strings.Index(cmd, "-p '")
				j := strings.LastIndex(cmd, "'")
				if i < 0 || j <= i+4 {
					failed.Add(1)
					continue
				}
				patch := cmd[i+4 : j]
				sub := &kubeovnv1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: fd.Subnet}}
				if err := c.Status().Patch(ctx, sub, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	for _, fd := range rep.Findings {
		if fd.Check == diagnose.CheckSubnetStatus && len(fd.Fix) > 0 {
			ch <- fd
		}
	}
	close(ch)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d subnet status patches failed", n)
	}
	return nil
}

// clean drops what the fixture sets that a create must not carry.
func clean[T client.Object](o T) T {
	o.SetResourceVersion("")
	o.SetUID("")
	return o
}

func createAll(ctx context.Context, c client.Client, objs []client.Object, workers int, created *atomic.Int64) error {
	ch := make(chan client.Object)
	var wg sync.WaitGroup
	var first error
	var mu sync.Mutex
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range ch {
				err := c.Create(ctx, o)
				for try := 0; err != nil && try < 5 && !strings.Contains(err.Error(), "already exists"); try++ {
					time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
					err = c.Create(ctx, o)
				}
				if err != nil && !strings.Contains(err.Error(), "already exists") {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
					}
					mu.Unlock()
					continue
				}
				if n := created.Add(1); n%20000 == 0 {
					fmt.Fprintf(os.Stderr, "seeded %d objects\n", n)
				}
			}
		}()
	}
	for _, o := range objs {
		ch <- o
	}
	close(ch)
	wg.Wait()
	return first
}
