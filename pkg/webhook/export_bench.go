package webhook

import "sigs.k8s.io/controller-runtime/pkg/webhook/admission"

// NewHandlersForBench returns the handlers Setup registers, by path, built on
// d instead of a manager: the benchmarks, the load test's fixture server and
// the memory measurement (test/bench, cmd/ipamguard-load) serve exactly the
// production wiring from an inventory they feed themselves.
func NewHandlersForBench(d Deps) map[string]admission.Handler { return handlers(d) }
