package memlimit

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

func TestSet(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	t.Setenv("GOMEMLIMIT", "")
	dir := t.TempDir()
	n := 0
	write := func(content string) string {
		n++
		p := filepath.Join(dir, "limit"+strconv.Itoa(n))
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	absent := filepath.Join(dir, "absent")
	unreadable := filepath.Join(dir, "a-directory")
	if err := os.Mkdir(unreadable, 0o700); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		files  []string
		ratio  float64
		limit  int64
		reason string
		err    string
	}{
		{"v2 limit", []string{write("536870912\n")}, 0.9, 483183820, "", ""},
		{"whole limit", []string{write("1000")}, 1, 1000, "", ""},
		{"v2 max", []string{write("max\n"), write("1000")}, 0.9, 0, "no cgroup memory limit", ""},
		{"v1 when v2 is absent", []string{absent, write("1073741824\n")}, 0.5, 536870912, "", ""},
		{"v1 unlimited", []string{absent, write("9223372036854771712\n")}, 0.9, 0, "no cgroup memory limit", ""},
		{"no file", []string{absent}, 0.9, 0, "no cgroup memory limit", ""},
		{"disabled", []string{write("1000")}, 0, 0, "disabled", ""},
		{"garbage is a reason, not an error", []string{write("lots")}, 0.9, 0, `cgroup memory limit "lots"`, ""},
		{"zero", []string{write("0")}, 0.9, 0, `cgroup memory limit "0"`, ""},
		{"unreadable is a reason, not an error", []string{unreadable}, 0.9, 0, "cannot read the cgroup memory limit", ""},
		{"ratio too big", []string{write("1000")}, 1.5, 0, "", "ratio 1.5"},
		{"ratio negative", []string{write("1000")}, -0.1, 0, "", "ratio -0.1"},
		{"ratio NaN", []string{write("1000")}, math.NaN(), 0, "", "ratio NaN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			r, err := Set(c.ratio, c.files...)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Limit != c.limit || !strings.Contains(r.Reason, c.reason) || (c.reason == "" && r.Reason != "") {
				t.Errorf("result %+v, want limit %d reason %q", r, c.limit, c.reason)
			}
			want := c.limit
			if want == 0 {
				want = math.MaxInt64
			}
			if got := debug.SetMemoryLimit(-1); got != want {
				t.Errorf("runtime limit %d, want %d", got, want)
			}
		})
	}
	t.Run("GOMEMLIMIT wins", func(t *testing.T) {
		t.Setenv("GOMEMLIMIT", "300MiB")
		debug.SetMemoryLimit(math.MaxInt64)
		r, err := Set(0.9, write("1000"))
		if err != nil || r.Reason != "GOMEMLIMIT is set" || debug.SetMemoryLimit(-1) != math.MaxInt64 {
			t.Errorf("result %+v, %v", r, err)
		}
	})
}
