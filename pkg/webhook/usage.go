package webhook

import (
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/metrics"
	"github.com/ipamguard/ipamguard/pkg/settings"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// The metrics collector's source: subnet usage computed from the
// inventory, never from status.

// SubnetUsage yields every subnet's usage per family, computed from the
// inventory with the thresholds in force; nothing before the first sync.
// It is the metrics collector's source, called once per scrape.
func (h *Inventory) SubnetUsage(yield func(metrics.SubnetUsage) bool) {
	if !h.Feed.HasSynced() {
		return
	}
	cfg := h.config.Get()
	t := cfg.Thresholds
	// Take the subnet list under one short read, then compute each usage
	// under its own: a scrape never holds the lock for a pass over the
	// whole cluster, so informer writes (and the admissions queued behind
	// them) never wait for it.
	var subnets []*inventory.Subnet
	h.Store.Read(func(r inventory.Reader) {
		r.Subnets(func(sn *inventory.Subnet) bool {
			subnets = append(subnets, sn)
			return true
		})
	})
	var us []validate.FamilyUsage
	for _, sn := range subnets {
		h.Store.Read(func(r inventory.Reader) { us = validate.Usage(r, sn) })
		for _, u := range us {
			if !yield(metrics.SubnetUsage{
				Subnet: sn.Name, VPC: sn.VPC, Family: u.Family.String(),
				Total: u.Total, Using: u.Using, Available: u.Available,
				Level: levelNumber(t.Level(u.Available)),
			}) {
				return
			}
		}
	}
}

// levelNumber is a level as the threshold-state gauge reports it.
func levelNumber(level settings.Level) int {
	switch level {
	case settings.LevelWarning:
		return metrics.LevelWarning
	case settings.LevelCritical:
		return metrics.LevelCritical
	case settings.LevelExhausted:
		return metrics.LevelExhausted
	}
	return metrics.LevelOK
}
