package settings

import "testing"

func TestLevel(t *testing.T) {
	th := DefaultThresholds()
	for _, c := range []struct {
		avail uint64
		want  Level
		text  string
	}{
		{0, LevelExhausted, "exhausted"},
		{1, LevelCritical, "critical: <= 5"},
		{5, LevelCritical, "critical: <= 5"},
		{6, LevelWarning, "warning: <= 10"},
		{10, LevelWarning, "warning: <= 10"},
		{11, LevelOK, ""},
	} {
		if got := th.Level(c.avail); got != c.want {
			t.Errorf("Level(%d) = %q, want %q", c.avail, got, c.want)
		}
		if got := th.Describe(th.Level(c.avail)); got != c.text {
			t.Errorf("Describe(Level(%d)) = %q, want %q", c.avail, got, c.text)
		}
	}
	// Critical 0: only an exhausted subnet is worse than a warning.
	if got := (Thresholds{Warning: 3}).Level(1); got != LevelWarning {
		t.Errorf("Level(1) with critical 0 = %q, want warning", got)
	}
}

func TestFreshInstall(t *testing.T) {
	d := FreshInstall()
	if d.VPC != "ovn-cluster" || d.Subnet != "ovn-default" || d.JoinSubnet != "join" ||
		d.JoinCIDR[0].String() != "100.64.0.0/16" || d.ServiceCIDR[0].String() != "10.96.0.0/12" {
		t.Errorf("FreshInstall() = %+v", d)
	}
}
