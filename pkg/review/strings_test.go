package review

import (
	"slices"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
)

func TestCountElements(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]int{
		`[]`: 0, `[ ]`: 0, `["a"]`: 1, `["a","b"]`: 2, `[ "a" , "b" ]`: 2, `["a,b","c\",d"]`: 2, `["a\\","b"]`: 2,
		`[["x","y"],{"a":1,"b":2},"z"]`: 3, `[""]`: 1, `[null,1]`: 2,
	} {
		if got := CountElements([]byte(raw)); got != want {
			t.Errorf("CountElements(%s) = %d, want %d", raw, got, want)
		}
	}
}

// Long string lists decode to slices of their exact length, with the
// values and errors of the default decoder.
func TestExactStrings(t *testing.T) {
	t.Parallel()
	items := make([]string, 1000)
	for i := range items {
		items[i] = strings.Repeat("x", i%7)
	}
	b, _ := json.Marshal(struct {
		L []string `json:"l"`
	}{items})
	var got struct {
		L []string `json:"l"`
	}
	if err := Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.L, items) || cap(got.L) != len(items) {
		t.Fatalf("len %d cap %d, want %d exactly", len(got.L), cap(got.L), len(items))
	}
	for _, bad := range []string{`{"l":[1]}`, `{"l":"x"}`, `{"l":{}}`} {
		var want, have struct {
			L []string `json:"l"`
		}
		werr := json.Unmarshal([]byte(bad), &want, baseDecodeOptions)
		herr := Unmarshal([]byte(bad), &have)
		if (werr == nil) != (herr == nil) {
			t.Errorf("%s: error %v, default decoder %v", bad, herr, werr)
		}
	}
	var null struct {
		L []string `json:"l"`
	}
	null.L = []string{"a"}
	if err := Unmarshal([]byte(`{"l":null}`), &null); err != nil || null.L != nil {
		t.Errorf("null: %v %v", null.L, err)
	}
}
