package admit

import (
	"errors"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/mutate"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// kind is what the pipeline does with requests for objects of one kind.
// Every step is optional.
type kind struct {
	// prepare decodes what the stages read, and reads what they need from
	// outside the inventory (I/O), before the inventory is locked; it runs
	// again on the defaulted object.
	prepare func(e *Engine, r *run) error
	// inventoryFree reports whether the request reads nothing of the
	// inventory, and can be answered before it has synced.
	inventoryFree func(req *Request) bool
	// defaults returns the canonical form of the request's object as a
	// patch, with the changes it makes.
	defaults func(r *run) (mutate.Patch, []mutate.Change, error)
	// validate and capacity run the kind's rules of each stage, adding
	// findings (and claims) to the outcome.
	validate func(r *run)
	capacity func(r *run)
}

func (k kind) needsInventory(req *Request) bool {
	return k.inventoryFree == nil || !k.inventoryFree(req)
}

// kinds is the one table of what runs for each kind.
var kinds = map[string]kind{
	"Subnet": object(objectRules[kubeovnv1.Subnet]{
		Create: validate.SubnetCreate,
		Update: validate.SubnetUpdate,
		Delete: validate.SubnetDelete,
		// The exhaustion warning is only given to a subnet no other rule
		// found fault with.
		Clean: validate.SubnetExhaustion,
	}, defaultSubnet, subnetDefaultOnly),
	"IP": object(objectRules[kubeovnv1.IP]{
		Create: validate.IPCreate,
		Update: validate.IPUpdate,
	}, nil, nil),
	"IPPool": object(objectRules[kubeovnv1.IPPool]{
		Create: validate.IPPoolCreate,
		Update: validate.IPPoolUpdate,
	}, nil, nil),
	"Pod":                    podKind,
	validate.KindDeployment:  workloadKind,
	validate.KindReplicaSet:  workloadKind,
	validate.KindStatefulSet: workloadKind,
	validate.KindDaemonSet:   workloadKind,
	validate.KindJob:         workloadKind,
	validate.KindCronJob:     workloadKind,
	KindScale:                scaleKind,
}

// KindScale is the kind of scale subresource requests.
const KindScale = "Scale"

// Judged reports whether the pipeline judges objects of kind.
func Judged(kind string) bool {
	_, ok := kinds[kind]
	return ok && kind != KindScale
}

// Namespaced reports whether objects of a judged kind live in a namespace.
func Namespaced(kind string) bool {
	return kind == "Pod" || validate.IsWorkloadKind(kind)
}

var errNoContent = errors.New("there is no content to decode")

// objectRules are the rules of a kind judged as a whole object on each
// operation (Subnet, IP, IPPool). A nil rule judges nothing.
type objectRules[T any] struct {
	Create, Update, Delete validate.Rule[T]
	// Clean runs after Create or Update when they found nothing.
	Clean validate.Rule[T]
}

// object builds the pipeline steps of a whole-object kind.
func object[T any](rules objectRules[T], defaults func(r *run) (mutate.Patch, []mutate.Change, error), inventoryFree func(*Request) bool) kind {
	return kind{
		prepare: func(_ *Engine, r *run) error {
			if r.req.Stages&Validate == 0 {
				return nil
			}
			switch r.req.Operation {
			case Create, Update:
				obj := new(T)
				if err := decode(r, false, obj); err != nil {
					return err
				}
				r.obj = obj
			}
			switch r.req.Operation {
			case Update, Delete:
				old := new(T)
				if err := decode(r, true, old); err != nil {
					return err
				}
				r.old = old
			}
			return nil
		},
		inventoryFree: inventoryFree,
		defaults:      defaults,
		validate: func(r *run) {
			obj, _ := r.obj.(*T)
			old, _ := r.old.(*T)
			var rule validate.Rule[T]
			switch r.req.Operation {
			case Create:
				rule, old = rules.Create, nil
			case Update:
				rule = rules.Update
			case Delete:
				rule, obj = rules.Delete, nil
			}
			if obj != nil {
				r.out.Admitted = obj
			}
			if rule == nil {
				return
			}
			res := rule(r.rc, old, obj)
			if len(res.Findings) == 0 && rules.Clean != nil && obj != nil {
				res = rules.Clean(r.rc, old, obj)
			}
			r.out.Findings = append(r.out.Findings, res.Findings...)
		},
	}
}

// defaultSubnet is the Subnet defaulter (msubnet) on create and update.
func defaultSubnet(r *run) (mutate.Patch, []mutate.Change, error) {
	var old []byte
	switch r.req.Operation {
	case Create:
	case Update:
		old = r.req.OldObject
	default:
		return nil, nil, nil
	}
	return mutate.SubnetPatch(r.req.Object, old)
}

// subnetDefaultOnly: defaulting a Subnet reads no inventory, so msubnet
// answers before the inventory has synced.
func subnetDefaultOnly(req *Request) bool { return req.Stages&^Default == 0 }
