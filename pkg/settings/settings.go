// Package settings holds the two sets of values every rule reads besides
// the inventory: the Kube-OVN controller's defaults the rules must agree
// with, and the exhaustion thresholds. It is a leaf: it imports nothing of
// this project, so the config file, the rules, the pipeline and the
// metrics share one definition and one set of default values.
package settings

import (
	"fmt"
	"net/netip"
	"time"
)

// Defaults are the Kube-OVN controller settings the rules must agree with
// (controller flags in Kube-OVN, the config file's defaults section here).
type Defaults struct {
	// VPC is the default VPC (an empty spec.vpc means it).
	VPC string
	// Subnet is the default subnet.
	Subnet string
	// JoinSubnet is the name of the join subnet, exempt from the join CIDR check.
	JoinSubnet string
	// JoinCIDR are the join subnet's blocks.
	JoinCIDR []netip.Prefix
	// ServiceCIDR are the cluster's service blocks.
	ServiceCIDR []netip.Prefix
}

// FreshInstall returns the defaults of a fresh Kube-OVN install with
// Kubernetes' default service CIDR.
func FreshInstall() Defaults {
	return Defaults{
		VPC:         "ovn-cluster",
		Subnet:      "ovn-default",
		JoinSubnet:  "join",
		JoinCIDR:    []netip.Prefix{netip.MustParsePrefix("100.64.0.0/16")},
		ServiceCIDR: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")},
	}
}

// DefaultPendingHolderTimeout is how long after its creation a pod that
// asked for a fixed address, and that Kube-OVN has not allocated yet, holds
// the address against other pods. The controller allocates within seconds
// of a pod's creation; a pod still pending after a few minutes is stuck,
// and must not block the address for everyone (a tenant could otherwise
// squat addresses with pods that never get any).
const DefaultPendingHolderTimeout = 5 * time.Minute

// Thresholds of the exhaustion rules: warning when available <= Warning,
// critical when <= Critical.
type Thresholds struct{ Warning, Critical uint64 }

// DefaultThresholds returns the levels of the Kube-OVN runbook: warning at
// 10 available addresses, critical at 5.
func DefaultThresholds() Thresholds { return Thresholds{Warning: 10, Critical: 5} }

// Level is how close a subnet is to running out of addresses.
type Level string

// The levels Thresholds.Level reports, from fine to fatal.
const (
	LevelOK        Level = ""
	LevelWarning   Level = "warning"
	LevelCritical  Level = "critical"
	LevelExhausted Level = "exhausted"
)

// Level returns LevelOK when available is above the warning threshold,
// else LevelWarning, LevelCritical (at or under the critical threshold) or
// LevelExhausted (nothing left).
func (t Thresholds) Level(available uint64) Level {
	switch {
	case available == 0:
		return LevelExhausted
	case available <= t.Critical:
		return LevelCritical
	case available <= t.Warning:
		return LevelWarning
	}
	return LevelOK
}

// Describe renders a level with the threshold it crossed, for messages:
// "warning: <= 10", "critical: <= 5", "exhausted".
func (t Thresholds) Describe(level Level) string {
	switch level {
	case LevelWarning:
		return fmt.Sprintf("%s: <= %d", level, t.Warning)
	case LevelCritical:
		return fmt.Sprintf("%s: <= %d", level, t.Critical)
	}
	return string(level)
}
