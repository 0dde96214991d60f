// Package audit is the doctor run against the live cluster: Read streams
// the state the checks need through a clusterstate.Reader, Diagnose runs
// the checks with the pending pods judged through the admission pipeline,
// and Auditor repeats both periodically inside the webhook (the continuous
// audit): it exports ipamguard_findings{check,severity} and, when enabled,
// writes one openreports.io ClusterReport. `kubectl ipam doctor` and the
// audit read and judge with this one code, so the audit's metrics match
// the one-shot doctor on the same state.
package audit

import (
	"context"
	"fmt"

	"github.com/ipamguard/ipamguard/pkg/check"
	"github.com/ipamguard/ipamguard/pkg/clusterstate"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/diagnose"
	"github.com/ipamguard/ipamguard/pkg/snapshot"
)

// Read streams the doctor's inventory (clusterstate.DoctorInventory) from
// the API server of r into s, stripped as a snapshot is (snapshot.Stripped),
// page by page, then the extra resources (the webhook's reservations,
// clusterstate.ReservationLeases). A list that is forbidden or times out is
// recorded in s.Incomplete, not returned; the error is for a server that
// cannot be reached at all, or an object that cannot be decoded. progress
// may be nil.
func Read(ctx context.Context, r *clusterstate.Reader, s *diagnose.State, progress clusterstate.Progress, extra ...clusterstate.Resource) error {
	return readInto(ctx, r, s, snapshot.Stripped(s.Add), progress, extra...)
}

// readInto is Read with visit deciding what becomes of each object.
func readInto(ctx context.Context, r *clusterstate.Reader, s *diagnose.State, visit snapshot.Visit, progress clusterstate.Progress, extra ...clusterstate.Resource) error {
	gaps, err := Stream(ctx, r, visit, progress, extra...)
	if err != nil {
		return err
	}
	s.Incomplete = append(s.Incomplete, gaps...)
	if s.ClusterID == "" {
		// The namespaces could not be listed; kube-system may still be
		// readable.
		s.ClusterID, _ = r.ClusterID(ctx)
	}
	return nil
}

// Stream lists the doctor's inventory from the API server of r and hands
// each object to visit as its page arrives (Read strips and decodes them;
// `kubectl ipam snapshot` writes them). The lists that could not be read
// (forbidden, timed out) are returned as gaps. extra resources are listed
// after the inventory.
func Stream(ctx context.Context, r *clusterstate.Reader, visit snapshot.Visit, progress clusterstate.Progress, extra ...clusterstate.Resource) ([]diagnose.Gap, error) {
	failures, err := r.Stream(ctx, append(clusterstate.DoctorInventory(), extra...), func(o clusterstate.Object) error {
		return visit(o.APIVersion, o.Kind, o.Raw)
	}, progress)
	if err != nil {
		return nil, err
	}
	var gaps []diagnose.Gap
	for _, f := range failures {
		gaps = append(gaps, diagnose.Gap{Resource: f.Resource.String(), Reason: f.Reason()})
	}
	return gaps, nil
}

// Diagnose runs the doctor's checks on s with opts, judging the pods
// Kube-OVN has not allocated yet through the admission pipeline with cfg
// (nil: the defaults), as the webhook would judge them now.
func Diagnose(s *diagnose.State, cfg *config.Config, opts diagnose.Options) (*diagnose.Report, error) {
	judge, err := check.NewPodJudge(check.Options{Config: cfg}, s)
	if err != nil {
		return nil, fmt.Errorf("build the pod judge: %w", err)
	}
	opts.Judge = judge.Judge
	return diagnose.Run(s, opts), nil
}
