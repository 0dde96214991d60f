package memlimit

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestSet(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	t.Setenv("GOMEMLIMIT", "")
	dir := t.TempDir()
	write := func(content string) string {
		p := filepath.Join(dir, strings.ReplaceAll(content, "\n", "_")+".max")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, file string
		ratio      float64
		limit      int64
		reason     string
		err        string
	}{
		{"limit", write("536870912\n"), 0.9, 483183820, "", ""},
		{"whole limit", write("1000"), 1, 1000, "", ""},
		{"max", write("max\n"), 0.9, 0, "no cgroup memory limit", ""},
		{"no file", filepath.Join(dir, "absent"), 0.9, 0, "no cgroup memory limit", ""},
		{"disabled", write("1000"), 0, 0, "disabled", ""},
		{"garbage", write("lots"), 0.9, 0, "", `cgroup memory limit "lots"`},
		{"zero", write("0"), 0.9, 0, "", `cgroup memory limit "0"`},
		{"ratio too big", write("1000"), 1.5, 0, "", "ratio 1.5"},
		{"ratio negative", write("1000"), -0.1, 0, "", "ratio -0.1"},
		{"ratio NaN", write("1000"), math.NaN(), 0, "", "ratio NaN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			r, err := Set(c.file, c.ratio)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Limit != c.limit || r.Reason != c.reason {
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
		r, err := Set(write("1000"), 0.9)
		if err != nil || r.Reason != "GOMEMLIMIT is set" || debug.SetMemoryLimit(-1) != math.MaxInt64 {
			t.Errorf("result %+v, %v", r, err)
		}
	})
}
